"""Paper parity, the first check of the drift report: a follower places the strategy's
orders on a paper account as the replayed feed quotes each signal's bar (the local host's
`SampleReplay` ticks of real S&P 500 days, written as the relay writes quotes); the paper
broker fills them and journals the fills; the drift report on that paper broker account,
with the execution model the account states, finds no missed or extra trade and no size
difference: what remains is only when in the bar the fill came (timing/price), the paper
broker's slippage and fees."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest

from containerapps.relay.quotes import trade_quote
from devhost.webpubsub.finnhub import FinnhubServer, SampleReplay
from shared.auth.caller import Caller
from shared.backtest import BarsFrame, ExecutionSettings, load_bars, run_backtest
from shared.config import get_settings
from shared.drift import CAUSES, DriftReport, DriftRequest, drift_report, money
from shared.feed.trades import Trade
from shared.ingest.bars import BarLake
from shared.ingest.state import QUOTES, quote_document
from shared.journal.broker_accounts import BrokerAccountTermsIn, save_terms
from shared.journal.service import journal_of
from shared.market.models import Bar
from shared.paper.broker import PaperBroker
from shared.paper.models import OrderIn, PaperAccountIn
from shared.storage.factory import document_store, lake

SYMBOL = "SPXR"
FIRST_DAY = "2012-01-03"
DAYS = 250
PARAMS: dict[str, int | float] = {"fast": 5, "slow": 20}
FILL_AFTER = timedelta(hours=14, minutes=31)
"""The follower acts on the first replayed quote of a signal's fill bar, a minute into
the US session (the daily bar's period is its UTC day)."""
TRADER = Caller("alice", frozenset({"trader"}))


def replay_source() -> tuple[SampleReplay, int]:
    replay = SampleReplay(FinnhubServer())
    replay._load()  # the host loads it when it starts replaying
    if not replay._days:
        pytest.skip("the arch package (the replay's S&P 500 days) is not installed")
    first = next(k for k, day in enumerate(replay._days) if day[0] == FIRST_DAY)
    return replay, first


def replayed_tick(replay: SampleReplay, day_index: int, at: datetime) -> Trade:
    """The replay's trade early in day `day_index` (its first third: from the previous
    close towards the high), time-stamped `at`."""
    n = len(replay._days) - 1
    offset = zlib.crc32(SYMBOL.encode()) % n
    position = (day_index - 1 - offset) % n + 0.02
    tick = replay.tick(SYMBOL, position * replay.seconds_per_day)
    assert tick.conditions[1] == f"sp500:{replay._days[day_index][0]}"
    return tick._replace(ts_ms=int(at.timestamp() * 1000))


def lake_bars_of(replay: SampleReplay, first: int) -> list[Bar]:
    bars = []
    for day, o, h, lo, c, v in replay._days[first : first + DAYS]:
        bars.append(
            Bar(symbol=SYMBOL, interval="1d", ts=datetime.fromisoformat(day).replace(tzinfo=UTC),
                open=o, high=h, low=lo, close=c, volume=v, source="sample")
        )  # fmt: skip
    return bars


@dataclass
class Followed:
    report: DriftReport
    signals: pd.DataFrame
    fills: list[tuple[float, float]]  # (quote, fill price) of each order placed
    frame: BarsFrame
    model: ExecutionSettings


def follow(skip: frozenset[int] = frozenset(), halve: frozenset[int] = frozenset()) -> Followed:
    """The follower trades every signal (but those in `skip`; half the size on those in
    `halve`) at the first replayed quote of its fill bar; then the drift report."""
    replay, first = replay_source()
    bars = lake_bars_of(replay, first)
    BarLake(lake()).merge(bars, ingested_at=datetime.now(UTC))
    frame = load_bars(
        pd.DataFrame(
            {k: [getattr(b, k) for b in bars] for k in ("open", "high", "low", "close")}
            | {"volume": [float(b.volume or 0) for b in bars]},
            index=pd.DatetimeIndex([b.ts for b in bars]),
        ),
        symbol=SYMBOL,
    )

    store, settings = document_store(), get_settings()
    clock = [datetime(2012, 1, 1, tzinfo=UTC)]
    broker = PaperBroker(store, settings, clock=lambda: clock[0])
    paper = broker.create_account(TRADER, PaperAccountIn(name="follow", starting_cash=100_000))
    broker_account = f"paper-{paper.id}"
    # the trader states how they size: half the equity per entry (the paper account gives
    # the cash, the slippage and no commission)
    save_terms(
        store, "alice", broker_account, BrokerAccountTermsIn(sizing="fixed_fraction", fraction=0.5)
    )
    model = ExecutionSettings(
        cash=100_000, slippage_bps=settings.paper_slippage_bps, sizing="fixed_fraction",
        fraction=0.5,
    )  # fmt: skip
    signals = run_backtest(frame, "sma_cross", PARAMS, model).trades
    assert len(signals) >= 5

    fills: list[tuple[float, float]] = []
    for k, t in enumerate(signals.itertuples(index=False)):
        if k in skip:
            continue
        qty = float(t.size) / 2 if k in halve else float(t.size)
        for bar, side in ((int(t.entry_bar), "buy"), (int(t.exit_bar), "sell")):
            at = bars[bar].ts + FILL_AFTER
            tick = replayed_tick(replay, first + bar, at)
            quote = trade_quote(tick, None)
            assert quote.source == "replay"
            store.upsert(QUOTES, quote_document(quote))
            clock[0] = at
            order = broker.place_order(TRADER, paper.id, OrderIn(symbol=SYMBOL, side=side, qty=qty))
            assert order.status == "filled", order
            fills.append((tick.price, float(order.fill_price or 0)))

    request = DriftRequest.model_validate(
        {
            "strategy": "sma_cross", "params": "fast=5,slow=20", "symbols": SYMBOL,
            "start": bars[0].ts.date().isoformat(), "end": bars[-1].ts.date().isoformat(),
            "brokerAccount": broker_account,
        }
    )  # fmt: skip
    report = drift_report(request, Caller("alice", frozenset({"viewer"})), journal_of("alice"))
    return Followed(report, signals, fills, frame, model)


def test_following_the_signals_on_paper_leaves_only_timing_slippage_and_fees() -> None:
    followed = follow()
    report, signals, fills, frame, model = (
        followed.report, followed.signals, followed.fills, followed.frame, followed.model,
    )  # fmt: skip
    settings = get_settings()

    # the account's terms are the model the follower traded by
    assert report.execution == model
    assert report.execution_sources["cash"] == "paperAccount"
    assert report.execution_sources["sizing"] == "brokerAccount"
    # no missed or extra trade, no size difference
    assert (report.missed, report.extra) == ([], [])
    assert len(report.pairs) == len(signals)
    exact = {k: Decimal(v) for k, v in report.exact.items()}
    assert exact["missed"] == exact["extra"] == exact["size"] == 0
    for pair in report.pairs:
        assert pair.size_difference == 0
        assert (pair.entry_delay_bars, pair.exit_delay_bars) == (0, 0)
        assert pair.entry_delay_seconds == pair.exit_delay_seconds == FILL_AFTER.total_seconds()
        assert pair.fee_difference == 0
    # what remains: where in the bar the fill came, against the model's open (price), and
    # nothing of the bars themselves (timing only rounds: same bars, same modelled fills)
    assert abs(exact["timing"]) <= Decimal("0.00001") * len(signals)
    assert exact["fees"] == 0
    assert sum(exact[c] for c in CAUSES) == exact["difference"]
    # the price effect, independently: each fill against the modelled fill at its bar's
    # open, both moved by the paper slippage, times the units, signed by the order
    slip = Fraction(settings.paper_slippage_bps) / 10_000
    expected = Fraction(0)
    for k, t in enumerate(signals.itertuples(index=False)):
        q = Fraction(float(t.size))
        (_, buy), (_, sell) = fills[2 * k], fills[2 * k + 1]
        model_in = Fraction(float(frame.open[int(t.entry_bar)])) * (1 + slip)
        model_out = Fraction(float(frame.open[int(t.exit_bar)])) * (1 - slip)
        expected += q * ((Fraction(sell) - model_out) - (Fraction(buy) - model_in))
    assert abs(exact["price"] - money(expected)) <= Decimal("0.00001") * len(signals)
    assert exact["price"] != 0  # the replayed quotes are not the bars' opens
    # and every paper fill is the replayed quote moved by the paper broker's slippage
    for quote_price, fill in fills:
        assert fill in (
            pytest.approx(quote_price * (1 + float(slip))),
            pytest.approx(quote_price * (1 - float(slip))),
        )


def test_a_skipped_signal_and_a_halved_order_show_as_missed_and_size() -> None:
    """The check is not blind: a follower that skips signal 1 and halves signal 3 gets
    exactly that trade missed and a size effect on exactly that pair."""
    followed = follow(skip=frozenset({1}), halve=frozenset({3}))
    report, signals = followed.report, followed.signals
    assert [leg.entry_bar for leg in report.missed] == [int(signals.entry_bar[1])]
    assert report.extra == []
    exact = {k: Decimal(v) for k, v in report.exact.items()}
    assert exact["missed"] == -Decimal(str(report.missed[0].net_pnl))
    halved = [p for p in report.pairs if p.size_difference != 0]
    assert [p.strategy.entry_bar for p in halved] == [int(signals.entry_bar[3])]
    assert halved[0].size_difference == -float(signals["size"][3]) / 2
    assert exact["size"] != 0
    assert sum(exact[c] for c in CAUSES) == exact["difference"]
