"""The journal dashboard in headless Chromium against `python -m devhost`, on the seeded
sample journal: figures appear, and clicking a filter changes them to the API's."""

from __future__ import annotations

import os
import shutil

import httpx
import pytest

from shared.journal.sample import DEMO_ACCOUNT, seed_demo
from shared.journal.service import journal_of
from testsupport.auth import auth_headers
from testsupport.host import start_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


def _net(page) -> str:
    return page.text_content('[data-stat="netPnl"] .value') or ""


@pytest.mark.skipif(
    not shutil.which("chromium") and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)
def test_dashboard_shows_the_sample_journal_and_filters_change_the_figures() -> None:
    from playwright.sync_api import sync_playwright

    seed_demo(journal_of(DEMO_ACCOUNT))
    headers = auth_headers("viewer", DEMO_ACCOUNT)
    token = headers["Authorization"].removeprefix("Bearer ")
    with start_host({"LOCAL_DATA_DIR": os.environ["LOCAL_DATA_DIR"]}) as host:
        api = f"{host.base_url}/api/journal/stats"
        everything = httpx.get(api, headers=headers, params={"tz": "America/New_York"}).json()
        longs = httpx.get(
            api, headers=headers, params={"tz": "America/New_York", "side": "long"}
        ).json()
        assert 0 < longs["trades"] < everything["trades"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                page.goto(f"{host.base_url}/api/journal/page#token={token}")
                page.wait_for_selector("body[data-loaded]", timeout=30_000)
                assert page.is_visible("#sample-note")
                assert f"{everything['trades']} closed trades" in (
                    page.text_content("#status") or ""
                )
                before = _net(page)
                assert before == f"{everything['netPnl']:,.2f}"
                assert len(page.query_selector_all("#calendar div")) > 100
                assert page.query_selector('#curve polyline[data-series="cumulative"]')
                assert page.query_selector('.bars[data-by="setup"] .row')
                assert len(page.query_selector_all("#trades tr")) == 50
                if os.environ.get("JOURNAL_SCREENSHOT"):
                    page.screenshot(path=os.environ["JOURNAL_SCREENSHOT"])
                loaded = page.get_attribute("body", "data-loaded")
                page.click('#sides button[data-side="long"]')
                page.wait_for_function(
                    f"document.body.dataset.loaded !== '{loaded}'", timeout=30_000
                )
                after = _net(page)
                assert after != before
                assert after == f"{longs['netPnl']:,.2f}"
                assert "long only" in (page.text_content("#status") or "")
                sides = {
                    c.text_content() for c in page.query_selector_all("#trades td:nth-child(3)")
                }
                assert sides == {"long"}
            finally:
                browser.close()
