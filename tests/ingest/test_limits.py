"""Provider limits through the ingestion path: a throttle defers (never fails, never falls back
to a lesser endpoint), a 429 with Retry-After pauses the provider across runs, an unknown
message is reported verbatim and never stored, and adjusted bars survive raw answers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from shared.config import get_settings
from shared.ingest.health import provider_health
from shared.ingest.sync import Ingestor
from shared.market.symbols import parse_symbols
from tests.ingest.conftest import AS_OF, next_business_day, snapshot
from testsupport.fake_providers import AV_MESSAGES, FakeProviders

LATER = AS_OF + timedelta(days=1)
EQUITIES = parse_symbols("AAPL,MSFT,IBM")


class Clock:
    """A settable wall clock for provider pauses."""

    def __init__(self) -> None:
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(ingestor: Ingestor) -> Clock:
    clock = Clock()
    ingestor.clock = clock
    return clock


@pytest.fixture
def premium(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Ingestor:
    monkeypatch.setenv("ALPHAVANTAGE_PREMIUM", "true")
    get_settings.cache_clear()
    return Ingestor.from_settings(get_settings())


def _stored(symbol: str) -> dict[datetime, dict[str, object]]:
    from shared.ingest.bars import BarLake
    from shared.storage.factory import lake

    table = BarLake(lake(get_settings())).read(symbol, "1d")
    return {row["ts"]: row for row in table.to_pylist()}


def _adj_close(symbol: str) -> dict[date, float | None]:
    from shared.ingest.bars import BarLake
    from shared.storage.factory import lake

    table = BarLake(lake(get_settings())).read(symbol, "1d")
    return {row["ts"].date(): row["adj_close"] for row in table.to_pylist()}


@pytest.mark.parametrize("fault", ["throttle_info", "note", "burst", "information"])
def test_a_throttle_defers_the_rest_of_the_run(
    premium: Ingestor, fake: FakeProviders, fault: str
) -> None:
    """Case 1: the per-minute text under `Information` stops the run after ONE call: every
    symbol is deferred with a retry time (none failed, none "premium required"), nothing is
    written, and the client does not fall back to the raw endpoint."""
    clock = Clock()
    premium.clock = clock
    fake.market.fail("alphavantage", fault)
    before = snapshot()
    report = premium.sync_alphavantage(AS_OF, EQUITIES)
    assert fake.market.count("alphavantage") == 1
    assert [o.status for o in report.outcomes] == ["deferred"] * 3, report.as_dict()
    retry_at = report.outcomes[0].retry_at
    assert retry_at is not None
    assert retry_at > clock.now
    assert {o.retry_at for o in report.outcomes} == {retry_at}
    assert report.as_dict()["retryAt"] == retry_at.isoformat()
    after = snapshot()
    assert after["lake"] == before["lake"]
    tried = after["sync_state"][f"alphavantage/{report.outcomes[0].symbol}|1d"]
    expected_kind = "daily_cap" if AV_MESSAGES[fault][2] == "daily_cap" else "throttled"
    assert (tried["lastErrorKind"], tried["consecutiveFailures"]) == (expected_kind, 0)
    assert tried["retryAt"] == retry_at.isoformat()

    # The next run before retryAt makes no call at all; after it, the run goes through.
    again = premium.sync_alphavantage(LATER, EQUITIES)
    assert fake.market.count("alphavantage") == 1
    assert again.count("deferred") == 3
    assert "paused until" in (again.note or "")
    clock.now = retry_at + timedelta(seconds=1)
    done = premium.sync_alphavantage(LATER, EQUITIES)
    assert done.count("ok") == 3, done.as_dict()
    assert {r.params["function"] for r in fake.market.requests} == {"TIME_SERIES_DAILY_ADJUSTED"}


def test_adjusted_bars_survive_a_throttle_then_a_raw_answer(
    premium: Ingestor, fake: FakeProviders
) -> None:
    """Case 1, the data: adjusted bars in the lake, then a throttle under `Information`, then
    the key loses premium (a real premium refusal: the raw series comes back). No stored
    adj_close becomes null and no close changes."""
    clock = Clock()
    premium.clock = clock
    symbols = parse_symbols("AAPL")
    assert premium.sync_alphavantage(AS_OF, symbols).count("ok") == 1
    stored = _adj_close("AAPL")
    assert stored
    assert all(value is not None for value in stored.values())
    closes = snapshot()["lake"]

    fake.market.fail("alphavantage", "throttle_info")
    premium.sync_alphavantage(LATER, symbols)
    clock.now += timedelta(minutes=2)
    fake.market.fail("alphavantage", "premium")
    report = premium.sync_alphavantage(LATER + timedelta(days=1), symbols)
    assert report.count("ok") == 1, report.as_dict()
    assert [r.params["function"] for r in fake.market.requests[-2:]] == [
        "TIME_SERIES_DAILY_ADJUSTED",
        "TIME_SERIES_DAILY",
    ]
    assert _adj_close("AAPL") == stored
    assert snapshot()["lake"] == closes  # same prices, adj_close kept: nothing rewritten


def test_unknown_message_is_reported_verbatim_and_never_stored(
    ingestor: Ingestor, fake: FakeProviders, clock: Clock
) -> None:
    _, text, _ = AV_MESSAGES["unknown_info"]
    fake.market.fail("alphavantage", "unknown_info")
    before = snapshot()
    report = ingestor.sync_alphavantage(AS_OF, EQUITIES)
    assert fake.market.count("alphavantage") == 1
    first = report.outcomes[0]
    assert first.status == "failed"
    assert text in (first.error or "")
    assert [o.status for o in report.outcomes[1:]] == ["deferred", "deferred"]
    after = snapshot()
    assert after["lake"] == before["lake"]
    state = after["sync_state"][f"alphavantage/{first.symbol}|1d"]
    assert (state["lastErrorKind"], state["lastNotice"]) == ("notice", text)
    health = provider_health(get_settings(), list(after["sync_state"].values()), clock.now)
    av = next(p for p in health["providers"] if p["provider"] == "alphavantage")
    assert av["notices"] == [text]


def test_coingecko_price_429_stops_the_run_and_pauses_the_next(
    ingestor: Ingestor, fake: FakeProviders, clock: Clock
) -> None:
    """Case 2: a 429 with Retry-After on /simple/price stops the run (no OHLC call goes out
    against the limit just stated) and pauses CoinGecko for the next runs until it passes."""
    fake.market.fail("coingecko", "429", retry_after=120)
    report = ingestor.sync_coingecko(AS_OF)
    assert fake.market.count("coingecko") == 1
    assert fake.market.count("coingecko", "/ohlc") == 0
    assert {o.status for o in report.outcomes} == {"deferred"}
    until = clock.now + timedelta(seconds=120)
    assert {o.retry_at for o in report.outcomes} == {until}

    clock.now += timedelta(seconds=60)
    assert ingestor.sync_coingecko(LATER).count("deferred") == 2
    assert ingestor.ping_coingecko(LATER).note.startswith("coingecko paused until")  # type: ignore[union-attr]
    assert fake.market.count("coingecko") == 1
    health = provider_health(get_settings(), list(snapshot()["sync_state"].values()), clock.now)
    cg = next(p for p in health["providers"] if p["provider"] == "coingecko")
    assert cg["pausedUntil"] == until.isoformat()
    assert cg["status"] == "degraded"

    clock.now = until + timedelta(seconds=1)
    resumed = ingestor.sync_coingecko(LATER)
    assert resumed.count("ok") == 2, resumed.as_dict()
    assert fake.market.count("coingecko", "/ohlc") == 2


@pytest.mark.parametrize(("provider", "target"), [("yahoo", "MSFT"), ("coingecko", "bitcoin")])
def test_any_429_with_retry_after_pauses_the_provider(
    ingestor: Ingestor, fake: FakeProviders, clock: Clock, provider: str, target: str
) -> None:
    run = {"yahoo": ingestor.sync_yahoo, "coingecko": ingestor.sync_coingecko}[provider]
    fake.market.fail(provider, "429", symbol=target, times=3, retry_after=600)
    first = run(AS_OF)
    assert first.count("deferred") >= 1, first.as_dict()
    assert first.count("failed") == 0, first.as_dict()
    calls = fake.market.count(provider)
    fake.market.last_day = next_business_day(fake.market.last_day)
    second = run(LATER)
    assert fake.market.count(provider) == calls
    assert second.retry_at == clock.now + timedelta(seconds=600)


def test_backfill_honours_a_pause(ingestor: Ingestor, fake: FakeProviders, clock: Clock) -> None:
    fake.market.fail("alphavantage", "note")
    symbols = parse_symbols("AAPL,MSFT")
    window = (date(2024, 6, 1), date(2024, 6, 28))
    report = ingestor.backfill(symbols, *window, provider="alphavantage", as_of=AS_OF)
    assert [o.status for o in report.outcomes] == ["deferred", "deferred"]
    assert fake.market.count("alphavantage") == 1
    again = ingestor.backfill(symbols, *window, provider="alphavantage", as_of=AS_OF)
    assert [o.status for o in again.outcomes] == ["deferred", "deferred"]
    assert "paused until" in (again.outcomes[0].error or "")
    assert fake.market.count("alphavantage") == 1


def test_a_429_on_the_ping_pauses_coingecko_too(
    ingestor: Ingestor, fake: FakeProviders, clock: Clock
) -> None:
    fake.market.fail("coingecko", "429", retry_after=300)
    ping = ingestor.ping_coingecko(AS_OF)
    assert [o.status for o in ping.outcomes] == ["deferred"]
    assert ping.retry_at == clock.now + timedelta(seconds=300)
    report = ingestor.sync_coingecko(AS_OF)
    assert report.count("deferred") == 2
    assert fake.market.count("coingecko") == 1


def test_raw_prices_over_adjusted_ones_are_refused_with_a_record(
    ingestor: Ingestor, fake: FakeProviders, clock: Clock
) -> None:
    """Yahoo's split-adjusted bars are stored; then Alpha Vantage (no premium key: raw, as
    traded) answers prices four times higher, as before a 4:1 split. The merge is refused bar
    by bar: the lake keeps Yahoo's rows, and the report, the sync state and provider health
    say so."""
    symbols = parse_symbols("AAPL")
    ingestor.sync_yahoo(AS_OF, symbols)
    before = _stored("AAPL")
    key = ("AAPL", fake.market.first_day, fake.market.last_day)
    fake.market._cache[key] = [
        (day, o * 4, h * 4, low * 4, c * 4, v / 4)
        for day, o, h, low, c, v in fake.market.daily("AAPL")
    ]
    report = ingestor.sync_alphavantage(LATER, symbols)
    (outcome,) = report.outcomes
    assert outcome.status == "ok"
    assert outcome.refused == outcome.rows_in - outcome.rows_written > 0
    assert report.as_dict()["refused"] == outcome.refused
    after = snapshot()
    stored = _stored("AAPL")
    assert {ts: stored[ts] for ts in before} == before  # every Yahoo row as it was
    assert len(stored) - len(before) == outcome.rows_written  # only days Yahoo did not have
    state = after["sync_state"]["alphavantage/AAPL|1d"]
    assert "raw alphavantage prices differ from the stored adjusted" in state["lastMergeRefusal"]
    health = provider_health(get_settings(), list(after["sync_state"].values()), clock.now)
    av = next(p for p in health["providers"] if p["provider"] == "alphavantage")
    assert av["symbols"][0]["lastMergeRefusal"] == state["lastMergeRefusal"]
