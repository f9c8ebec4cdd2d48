"""The demo journal: the sample broker file from the bundled prices, seeded once."""

from __future__ import annotations

import asyncio

from shared.journal.sample import BROKER_ACCOUNT, DEMO_ACCOUNT, FILENAME, sample_file
from shared.journal.service import journal_of
from shared.providers.sample import DATASETS
from testsupport.routes import app_function


def _seed_timer():
    timer = app_function("journal_sample")
    trigger = timer.get_trigger()
    assert getattr(trigger, "schedule", None) == "%SCHEDULE_SAMPLE%"
    return timer.get_user_function()


def test_sample_file_is_built_from_the_bundled_real_prices():
    text = sample_file()
    assert text == sample_file()  # deterministic
    lines = text.splitlines()
    assert lines[0].startswith('"ClientAccountID"')
    goog = DATASETS[2].load()
    opens = {
        f"{d:%Y%m%d}": round(float(o), 2) for d, o in zip(goog.index, goog["open"], strict=True)
    }
    buys = [line.split('","') for line in lines[1:] if '"GOOG"' in line and '"BUY"' in line]
    assert buys
    # every GOOG entry in the morning is that day's real open
    morning = [row for row in buys if row[8].split(";")[1] < "100000"]
    assert all(float(row[11]) == opens[row[8][:8]] for row in morning)


def test_timer_seeds_the_demo_journal_once(monkeypatch):
    run = _seed_timer()
    asyncio.run(run(None))
    journal = journal_of(DEMO_ACCOUNT)
    executions = len(journal.all_executions())
    assert executions > 300
    trades = journal.trades()
    assert {t.broker_account for t in trades} == {BROKER_ACCOUNT}
    assert len(journal.annotations()) == sum(t.status == "closed" for t in trades)
    assert journal.imports()[0]["filename"] == FILENAME
    version = journal.version()
    asyncio.run(run(None))
    assert len(journal.all_executions()) == executions
    assert journal.version() == version
    monkeypatch.setenv("SAMPLE_DATA_ENABLED", "false")
    from shared.config import get_settings

    get_settings.cache_clear()
    other = journal_of("nobody")
    monkeypatch.setattr("functions.journal.DEMO_ACCOUNT", "nobody")
    asyncio.run(run(None))
    assert other.all_executions() == []


async def test_dashboard_page_is_served(call):
    reply = await call("GET", "journal/page", role=None)
    assert reply.status == 200
    assert reply.mimetype == "text/html"
    assert b"/api/journal/stats" in reply.body
