"""Property: for ANY sequence of provider answers (Alpha Vantage good adjusted, good raw after a
premium refusal, throttled, daily cap, unknown message, invalid call, 5xx, malformed, CSV,
empty, partial; Yahoo's split-adjusted series), the lake never loses a row or a field it had,
never changes on an answer that is not data, stores only the provider's own values, and
converges to the good data.

Each example runs the real ingestion path (client, classification, merge) against the fake
server, in a fresh data folder, with a clock that moves a day per answer so pauses expire."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.config import get_settings
from shared.ingest.sync import Ingestor
from shared.market.symbols import parse_symbols
from shared.storage.factory import clear_cache
from tests.ingest.conftest import AS_OF, fast_env, lake_files
from testsupport.fake_providers import FakeMarket, FakeProviders, serve_fake_providers

ANSWERS = {
    # answer: (faults to script, is it data?); "yahoo" is Yahoo's split-adjusted series
    "yahoo": ((), True),
    "adjusted": ((), True),
    "raw": (("premium",), True),
    "partial_adjusted": (("partial",), True),
    "partial_raw": (("partial", "premium"), True),
    "throttle": (("throttle_info",), False),
    "note": (("note",), False),
    "daily_cap": (("information",), False),
    "unknown": (("unknown_info",), False),
    "invalid": (("error_message",), False),
    "server_error": (("500", "500"), False),
    "malformed": (("malformed",), False),
    "csv": (("csv",), False),
    "empty": (("empty",), False),
}
WINDOW = (date(2024, 1, 1), date(2024, 6, 28))
FIELDS = ("open", "high", "low", "close", "volume", "adj_close", "source", "adjustment")


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeProviders]:
    with serve_fake_providers(FakeMarket(timeout_sleep=1.0)) as server:
        yield server


def _rows() -> dict[datetime, dict[str, Any]]:
    rows: dict[datetime, dict[str, Any]] = {}
    for data in lake_files().values():
        for row in pq.read_table(io.BytesIO(data)).to_pylist():
            rows[row["ts"]] = {k: row[k] for k in FIELDS}
    return rows


def _served(fake: FakeProviders) -> dict[date, tuple[float, ...]]:
    return {row[0]: row[1:] for row in fake.market.daily("AAPL")}


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(answers=st.lists(st.sampled_from(sorted(ANSWERS)), min_size=1, max_size=6))
def test_the_lake_never_loses_and_converges(
    fake: FakeProviders, monkeypatch: pytest.MonkeyPatch, answers: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for name, value in {
            **fast_env(fake),
            "ALPHAVANTAGE_PREMIUM": "true",
            "LOCAL_DATA_DIR": folder,
        }.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        clear_cache()
        try:
            _run(fake, answers)
        finally:
            clear_cache()
            get_settings.cache_clear()


def _run(fake: FakeProviders, answers: list[str]) -> None:
    fake.market.faults.clear()
    ingestor = Ingestor.from_settings(get_settings())
    now = datetime(2026, 1, 5, tzinfo=UTC)
    ingestor.clock = lambda: now
    symbols = parse_symbols("AAPL")
    served = _served(fake)

    def step(answer: str) -> None:
        nonlocal now
        now += timedelta(days=1, minutes=1)  # every pause (a minute, a day) has passed
        faults, is_data = ANSWERS[answer]
        for fault in faults:
            fake.market.fail("alphavantage", fault)
        before_files, before = lake_files(), _rows()
        provider = "yahoo" if answer == "yahoo" else "alphavantage"
        ingestor.backfill(symbols, *WINDOW, provider=provider, as_of=AS_OF)
        assert not fake.market.faults, f"{answer}: scripted faults left unanswered"
        after = _rows()
        if not is_data:
            assert lake_files() == before_files, f"{answer} changed the lake"
        for ts, row in before.items():
            assert ts in after, f"{answer} lost the row {ts}"
            for name in ("volume", "adj_close"):
                if row[name] is not None:
                    assert after[ts][name] is not None, f"{answer} nulled {name} at {ts}"
        for ts, row in after.items():
            o, h, low, c, v = served[ts.date()]
            assert (row["open"], row["high"], row["low"], row["close"]) == (o, h, low, c)
            assert row["volume"] == v
            assert row["adj_close"] in (None, float(f"{c * 0.98:.4f}"), round(c * 0.98, 4))

    for answer in answers:
        step(answer)
    step("adjusted")
    final = _rows()
    assert {ts.date() for ts in final} == set(served)
    for ts, row in final.items():
        c = served[ts.date()][3]
        assert (row["source"], row["adj_close"]) == ("alphavantage", float(f"{c * 0.98:.4f}"))
