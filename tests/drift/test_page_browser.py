"""The drift view of the journal dashboard in headless Chromium against `python -m devhost`:
the sample journal against sma_cross on the bundled GOOG bars. The rendered figures (summary,
the two curves' final values, every waterfall step, the unmatched lists) are the API's.
`DRIFT_SCREENSHOT=docs/journal-drift.png` saves the README's screenshot."""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from shared.ingest.bars import BarLake
from shared.journal.sample import BROKER_ACCOUNT, DEMO_ACCOUNT, seed_demo
from shared.journal.service import journal_of
from shared.market.models import Bar
from shared.providers.sample import DATASETS
from shared.storage.factory import lake
from testsupport.auth import auth_headers
from testsupport.host import start_host

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]
PAGE_QUERY = {
    "from": "2007-10-01", "to": "2008-10-31", "symbols": "GOOG", "brokerAccount": BROKER_ACCOUNT,
    "drift": "sma_cross", "driftParams": "fast=10,slow=30", "driftCommission": "0.001",
}  # fmt: skip
API_QUERY = {
    "strategy": "sma_cross", "params": "fast=10,slow=30", "symbols": "GOOG",
    "start": "2007-10-01", "end": "2008-10-31", "brokerAccount": BROKER_ACCOUNT,
    "commission": "0.001",
}  # fmt: skip


def money(value: float) -> str:
    """As the page's `toLocaleString("en-US", 2 decimals)`."""
    return f"{value:,.2f}"


def seed_goog() -> None:
    try:
        frame = next(d for d in DATASETS if d.symbol == "GOOG").load()
    except (ImportError, OSError) as error:
        pytest.skip(f"bundled GOOG prices unavailable: {error}")
    bars = [
        Bar(
            symbol="GOOG", interval="1d", ts=ts.to_pydatetime().replace(tzinfo=UTC),
            open=row.open, high=row.high, low=row.low, close=row.close, source="yahoo",
        )
        for ts, row in frame.iterrows()
    ]  # fmt: skip
    BarLake(lake()).merge(bars, ingested_at=datetime.now(UTC))


def fanned_out_report(base_url: str, headers: dict[str, str], query: dict[str, str]) -> Any:
    """The report of a scope that runs fanned out: 202, then its status URL until done."""
    started = httpx.get(f"{base_url}/api/journal/drift", headers=headers, params=query)
    assert started.status_code == 202, started.text
    url = f"{base_url}{started.json()['statusUrl']}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        view = httpx.get(url, headers=headers).json()
        if view["status"] == "Completed":
            return view["report"]
        assert view["status"] in ("Pending", "Running"), view
        time.sleep(0.5)
    raise AssertionError(f"the run at {url} did not finish")


@pytest.mark.skipif(
    not shutil.which("chromium") and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (apt-get install -y chromium)",
)
def test_the_drift_view_draws_the_reports_figures() -> None:
    from playwright.sync_api import sync_playwright

    seed_goog()
    seed_demo(journal_of(DEMO_ACCOUNT))
    headers = auth_headers("viewer", DEMO_ACCOUNT)
    token = headers["Authorization"].removeprefix("Bearer ")
    # the README's scope (397 days of one symbol) answers at once; a wider one fans out
    env = {"LOCAL_DATA_DIR": os.environ["LOCAL_DATA_DIR"], "DRIFT_SYNC_MAX_BARS": "400"}
    with start_host(env) as host:
        reply = httpx.get(
            f"{host.base_url}/api/journal/drift", headers=headers, params=API_QUERY, timeout=60
        )
        assert reply.status_code == 200, reply.text
        report = reply.json()
        assert report["missed"]
        assert report["extra"]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 2200})
                page.goto(f"{host.base_url}/api/journal/page?{urlencode(PAGE_QUERY)}#token={token}")
                page.wait_for_selector("body[data-drift-loaded]", timeout=60_000)
                page.wait_for_selector("body[data-loaded]", timeout=30_000)
                assert page.get_attribute("body", "data-drift-loaded") != "error", (
                    page.text_content("#drift-status")
                )
                status = page.text_content("#drift-status") or ""
                assert f"{len(report['pairs'])} matched" in status
                # the summary
                for key in ("strategyPnl", "traderPnl", "difference"):
                    shown = page.text_content(f'[data-drift="{key}"] .value')
                    assert shown == money(report[key]), key
                # the two equity curves: one point per exit plus the origin, ending at the totals
                for side in ("strategy", "trader"):
                    line = page.query_selector(f'#drift-curve polyline[data-series="{side}"]')
                    assert line is not None
                    points = (line.get_attribute("points") or "").split()
                    assert len(points) == len(report["curve"]) + 1
                    assert float(line.get_attribute("data-final") or "nan") == pytest.approx(
                        report[f"{side}Pnl"]
                    )
                    legend = page.text_content(f'.legend [data-final="{side}"]')
                    assert legend == money(report[f"{side}Pnl"])
                # the waterfall: strategy, each cause, trader, each labelled with its amount
                steps = page.query_selector_all("#drift-waterfall g[data-step]")
                keys = [s.get_attribute("data-step") for s in steps]
                causes = ["missed", "extra", "size", "timing", "price", "fees"]
                assert keys == ["strategyPnl", *causes, "traderPnl"]
                for step in steps:
                    key = step.get_attribute("data-step") or ""
                    value = report["attribution"][key] if key in causes else report[key]
                    amount = step.query_selector("text.amount")
                    assert amount is not None
                    assert amount.text_content() == money(value), key
                    assert step.query_selector("rect") is not None
                # the unmatched trades, listed with the API's figures
                for side in ("missed", "extra"):
                    count = page.text_content(f'[data-count="{side}"]')
                    assert count == str(len(report[side]))
                    rows = page.query_selector_all(f"#drift-{side} tr[data-leg]")
                    assert [r.get_attribute("data-leg") for r in rows] == [
                        leg["id"] for leg in report[side][:200]
                    ]
                    first = rows[0].query_selector_all("td")
                    assert first[6].text_content() == money(report[side][0]["netPnl"])
                    assert first[1].text_content() == report[side][0]["symbol"]
                if os.environ.get("DRIFT_SCREENSHOT"):
                    top = page.evaluate(
                        "document.getElementById('drift-view').getBoundingClientRect().top"
                        " + window.scrollY"
                    )
                    page.screenshot(
                        path=os.environ["DRIFT_SCREENSHOT"],
                        clip={"x": 0, "y": top, "width": 1280, "height": 860},
                        full_page=True,
                    )
                # a bad strategy is shown as the API's problem, not a blank view
                page.fill("#drift", "nope")
                page.click("#drift-run")
                page.wait_for_function(
                    "document.body.dataset.driftLoaded === 'error'", timeout=30_000
                )
                assert "strategy 'nope'" in (page.text_content("#drift-status") or "")

                # a large scope: the page follows the run's status URL to its report
                wide = API_QUERY | {"start": "2007-01-01"}
                run = fanned_out_report(host.base_url, headers, wide)
                page.fill("#drift", "sma_cross")
                page.fill("#from", "2007-01-01")
                page.click("#drift-run")
                page.wait_for_function(
                    "document.body.dataset.driftLoaded !== 'error'"
                    " && document.body.dataset.driftRun !== undefined",
                    timeout=90_000,
                )
                for key in ("strategyPnl", "traderPnl", "difference"):
                    shown = page.text_content(f'[data-drift="{key}"] .value')
                    assert shown == money(run[key]), key
                assert run["difference"] != report["difference"]
                extra = page.text_content('[data-count="extra"]')
                assert extra == str(len(run["extra"]))
            finally:
                browser.close()
