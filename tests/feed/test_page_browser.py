"""The demo page in headless Chromium against `python -m devhost`: live (replayed) trades arrive."""

from __future__ import annotations

import os
import shutil

import pytest

from testsupport.auth import auth_headers
from testsupport.host import start_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.mark.skipif(
    not shutil.which("chromium") and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)
def test_demo_page_shows_trades_arriving(tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    env = {
        # a data folder of its own: watchlists other tests left behind would share the
        # replay's trades with their symbols
        "LOCAL_DATA_DIR": str(tmp_path),
        "RELAY_REPLAY_RATE": "10",
        "DEFAULT_SYMBOLS": "AAPL,MSFT,^GSPC",
    }
    token = auth_headers("viewer", "alice")["Authorization"].removeprefix("Bearer ")
    with start_host(env) as host:
        host.wait_for_log(r"finnhub connection 0 up", timeout=60)
        url = f"{host.base_url}/api/feed/page?symbols=AAPL,MSFT,SPX&autoconnect=1#token={token}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page()
                page.goto(url)
                # an index joins its group (negotiate and the page take it); Finnhub has no
                # index trade stream, so the relay subscribes none and no tick arrives for it
                page.wait_for_selector('tr[data-symbol="^GSPC"]', timeout=30_000)
                page.wait_for_function(
                    """() => ["AAPL", "MSFT"].every((s) => {
                        const cell = document.querySelector(`tr[data-symbol="${s}"] td.count`);
                        return cell && Number(cell.textContent) >= 5;
                    })""",
                    timeout=60_000,
                )
                first = int(page.text_content('tr[data-symbol="AAPL"] td.count') or "0")
                page.wait_for_function(
                    f"""() => Number(document.querySelector(
                        'tr[data-symbol="AAPL"] td.count').textContent) > {first}""",
                    timeout=10_000,
                )
                assert page.is_visible("#replay-note")
                price = float(page.text_content('tr[data-symbol="AAPL"] td.price') or "nan")
                assert 500 < price < 3500, "replayed prices are S&P 500 index levels"
                points = page.get_attribute('tr[data-symbol="AAPL"] polyline', "points") or ""
                assert len(points.split()) >= 5
                assert "live: AAPL, MSFT, ^GSPC" in (page.text_content("#status") or "")
            finally:
                browser.close()
