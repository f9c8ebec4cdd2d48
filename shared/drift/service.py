"""The drift report of a journal scope: replay the strategy over the lake's bars, read the
trader's closed trades from the journal, match and attribute (`shared.drift.attribution`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, localcontext
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.backtest import BarsFrame, ExecutionSettings, get_strategy, run_backtest
from shared.backtest.spec import ParamValue, check_number
from shared.backtest.strategies import strategy_names
from shared.drift.attribution import CAUSES, EXACT, Drift, Leg, Modelled, drift
from shared.errors import InvalidInput, NotEnoughBars, NotFound
from shared.ingest.query import lake_bars
from shared.journal import Trade, match
from shared.journal.broker_accounts import account_terms
from shared.journal.models import BrokerAccount
from shared.journal.service import journal_of
from shared.journal.store import Journal
from shared.market.models import Interval, check_day
from shared.market.symbols import distinct_symbols
from shared.storage.documents import DocumentStore

MAX_SYMBOLS = 20
MAX_BARS_PER_SYMBOL = 1_000_000


EXECUTION_FIELDS = (
    "cash",
    "fill",
    "direction",
    "commission",
    "commission_fixed",
    "slippage_bps",
    "sizing",
    "fraction",
    "stop_loss_pct",
    "take_profit_pct",
)
"""The `ExecutionSettings` fields a drift query may set (flat in the query string)."""


def _pairs(value: object, where: str) -> object:
    """`a=1,b=2` as {"a": "1", "b": "2"}; a dict passes through."""
    if not isinstance(value, str):
        return value
    found: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        name, sep, text = part.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"{where}: {part!r} is not name=value")
        found[name.strip()] = text.strip()
    return found


class DriftRequest(ApiModel):
    """A journal scope and the strategy to hold it against (flat: it is a query string).
    The execution model's fields (`commission`, `slippageBps`, `fill`, `sizing`, ...) are
    those of a backtest's `execution`; unset ones keep the backtest defaults."""

    model_config = ConfigDict(extra="forbid")

    strategy: str | None = Field(
        None, max_length=64, description="Registered strategy name, e.g. 'sma_cross'."
    )
    params: dict[str, ParamValue] = Field(
        default_factory=dict,
        description="Its parameters as `fast=10,slow=30` (defaults fill the rest).",
        max_length=32,
    )
    options: dict[str, str] = Field(
        default_factory=dict, description="Its non-numeric choices as `ma=prefix`.", max_length=8
    )
    strategy_id: str | None = Field(
        None, max_length=128, description="A saved strategy (instead of `strategy`)."
    )
    strategy_version: int | None = Field(
        None, ge=1, le=10**9, description="Version of the saved strategy; default its latest."
    )
    symbols: list[str] = Field(
        min_length=1, max_length=MAX_SYMBOLS, description="Comma-separated symbols."
    )
    start: date = Field(description="First day (inclusive, UTC).")
    end: date = Field(description="Last day (inclusive, UTC).")
    broker_account: BrokerAccount = Field("default", description="The journal's broker account.")
    interval: Interval = Field("1d", description="Bar interval in the lake.")
    tolerance_bars: int = Field(
        1, ge=0, le=1000, description="Bars by which a trader trade may miss a strategy trade's "
        "holding interval on either side and still match it.",
    )  # fmt: skip
    account: str | None = Field(None, max_length=255, description="Admins only: whose journal.")
    cash: float | None = Field(None, description="Starting cash of the replay.")
    fill: Literal["next_open", "close"] | None = None
    direction: Literal["long_only", "long_short"] | None = None
    commission: float | None = Field(None, description="Rate of traded value per order.")
    commission_fixed: float | None = Field(None, description="Fixed amount per order.")
    slippage_bps: float | None = Field(None, description="Adverse fill move, bps.")
    sizing: Literal["all_cash_units", "fractional", "fixed_fraction"] | None = None
    fraction: float | None = Field(None, description="Equity share per entry (fixed_fraction).")
    stop_loss_pct: float | None = None
    take_profit_pct: float | None = None

    @field_validator("symbols", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part for part in value.split(",") if part.strip()]
        return value

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: list[str]) -> list[str]:
        return distinct_symbols(value)

    @field_validator("start", "end")
    @classmethod
    def _day(cls, value: date) -> date:
        return check_day(value)

    @field_validator("params", mode="before")
    @classmethod
    def _param_numbers(cls, value: object) -> object:
        value = _pairs(value, "params")
        if not isinstance(value, dict):
            return value
        return {k: check_number(v, f"params.{k}") for k, v in value.items()}

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, value: object) -> object:
        return _pairs(value, "options")

    @field_validator(
        "cash",
        "commission",
        "commission_fixed",
        "slippage_bps",
        "fraction",
        "stop_loss_pct",
        "take_profit_pct",
        mode="before",
    )
    @classmethod
    def _numbers(cls, value: object, info: ValidationInfo) -> object:
        return None if value is None else check_number(value, to_camel(str(info.field_name)))

    @model_validator(mode="after")
    def _scope(self) -> DriftRequest:
        if (self.strategy is None) == (self.strategy_id is None):
            raise ValueError("give either 'strategy' (a name) or 'strategyId' (a saved one)")
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        self.execution  # noqa: B018  (checked here, so a bad value is a 422 naming it)
        return self

    @property
    def given_execution(self) -> dict[str, Any]:
        """The execution fields this request sets."""
        return {k: getattr(self, k) for k in EXECUTION_FIELDS if getattr(self, k) is not None}

    @property
    def execution(self) -> ExecutionSettings:
        """The request's own execution model: its fields over the backtest defaults."""
        return self.execution_over({})

    def execution_over(self, account: Mapping[str, object]) -> ExecutionSettings:
        """The replay's execution model: the request's fields over the broker account's
        terms (`account`) over the backtest defaults."""
        try:
            return ExecutionSettings(**{**account, **self.given_execution})
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(to_camel(str(p)) for p in first["loc"])
            raise ValueError(f"{where}: {first['msg']}") from None


class LegView(ApiModel):
    id: str
    symbol: str
    side: Literal["long", "short"]
    entered_at: datetime
    exited_at: datetime
    entry_bar: int
    exit_bar: int
    quantity: float
    entry_price: float
    exit_price: float
    fees: float
    net_pnl: float


class PairView(ApiModel):
    """A strategy trade and the trader trade matched to it; differences are trader minus
    strategy (a positive entry delay means the trader entered later)."""

    strategy: LegView
    trader: LegView
    entry_delay_bars: int
    entry_delay_seconds: float
    exit_delay_bars: int
    exit_delay_seconds: float
    modelled_entry_price: float = Field(description="The model's fill at the trader's entry bar.")
    modelled_exit_price: float = Field(description="The model's fill at the trader's exit bar.")
    entry_slippage: float = Field(description="Trader's entry price minus the modelled entry.")
    exit_slippage: float = Field(description="Trader's exit price minus the modelled exit.")
    size_difference: float
    fee_difference: float
    pnl_difference: float
    attribution: dict[str, float] = Field(description="size, timing, price, fees: sum exactly.")


class CurvePoint(ApiModel):
    """Cumulative net P&L of each side's trades closed up to `at`."""

    at: datetime
    strategy: float
    trader: float


ExecutionSource = Literal["request", "brokerAccount", "paperAccount", "default"]


def execution_of(
    request: DriftRequest, docs: DocumentStore, account: str
) -> tuple[ExecutionSettings, dict[str, ExecutionSource]]:
    """The replay's execution model for a request on `account`'s journal, and where each
    field of it came from: the request, the broker account's stored terms, its paper
    account, or the backtest defaults."""
    terms = account_terms(docs, account, request.broker_account)
    execution = request.execution_over({k: value for k, (value, _) in terms.items()})
    given = request.given_execution
    sources: dict[str, ExecutionSource] = {}
    for name in EXECUTION_FIELDS:
        if name in given:
            sources[to_camel(name)] = "request"
        elif name in terms:
            sources[to_camel(name)] = terms[name][1]
        else:
            sources[to_camel(name)] = "default"
    return execution, sources


class DriftReport(ApiModel):
    strategy: str
    params: dict[str, ParamValue]
    strategy_id: str | None
    strategy_version: int | None
    symbols: list[str]
    start: date
    end: date
    broker_account: str
    interval: str
    tolerance_seconds: dict[str, float] = Field(description="The matching tolerance per symbol.")
    execution: ExecutionSettings = Field(description="The execution model the replay ran with.")
    execution_sources: dict[str, ExecutionSource] = Field(
        description="Where each execution field came from: the request, the broker account's "
        "terms (PUT /api/journal/broker-accounts/{brokerAccount}), its paper account, or the "
        "backtest default."
    )
    strategy_pnl: float
    trader_pnl: float
    difference: float = Field(description="traderPnl - strategyPnl.")
    attribution: dict[str, float] = Field(
        description="missed, extra, size, timing, price, fees: sums exactly to `difference` "
        "(amounts are rounded to 1e-6 of the currency; add them as decimals)."
    )
    exact: dict[str, str] = Field(
        description="strategyPnl, traderPnl, difference and each cause as exact decimal text "
        "(the floats above are these figures; beyond 1e9 a float cannot hold 6 decimals)."
    )
    curve: list[CurvePoint] = Field(
        description="The two equity curves: each side's cumulative net P&L at every exit, "
        "in time order; the last point is (strategyPnl, traderPnl)."
    )
    pairs: list[PairView]
    missed: list[LegView] = Field(description="Strategy trades the trader did not take.")
    extra: list[LegView] = Field(description="Trader trades the strategy did not take.")


# ------------------------------------------------------------------------------ inputs
def read_bars(symbol: str, interval: str, start: date, end: date) -> BarsFrame:
    """The lake's bars of one series in [start, end] (UTC days); `NotEnoughBars` if none."""
    bars: BarsFrame = lake_bars(symbol, interval, start, end, max_rows=MAX_BARS_PER_SYMBOL)
    if len(bars) == 0:
        raise NotEnoughBars(f"no {interval} bars of {symbol} in the lake for {start}..{end}")
    return bars


def resolve_strategy(
    request: DriftRequest, caller: Caller
) -> tuple[str, dict[str, ParamValue], dict[str, str]]:
    """The strategy name, checked parameters and options to replay."""
    if request.strategy_id is not None:
        from shared.storage.factory import document_store
        from shared.strategies_store.store import StrategyStore

        store = StrategyStore(document_store())
        spec = (
            store.version(caller, request.strategy_id, request.strategy_version).spec
            if request.strategy_version is not None
            else store.get(caller, request.strategy_id).spec
        )
        impl = get_strategy(spec.strategy)
        axes = impl.axes(spec)
        swept = sorted(k for k, v in axes.items() if len(v) > 1)
        if swept:
            raise InvalidInput(
                f"strategy {request.strategy_id!r} sweeps {', '.join(swept)}: drift needs one "
                "combination (name it with `strategy` and `params`)"
            )
        return spec.strategy, {k: v[0] for k, v in axes.items()}, dict(spec.options)
    name = request.strategy or ""
    if name not in strategy_names():
        raise NotFound(f"strategy {name!r} is not one of {', '.join(strategy_names())}")
    return name, dict(get_strategy(name).check(request.params)), dict(request.options)


def strategy_legs(symbol: str, bars: BarsFrame, frame: pd.DataFrame) -> list[Leg]:
    """The replay's trade log as legs."""
    legs = []
    for k, row in enumerate(frame.itertuples(index=False)):
        size = float(row.size)
        legs.append(
            Leg(
                id=f"strategy-{symbol}-{k}",
                symbol=symbol,
                side="long" if size > 0 else "short",
                entered_at=pd.Timestamp(row.entry_time),
                exited_at=pd.Timestamp(row.exit_time),
                entry_bar=int(row.entry_bar),
                exit_bar=int(row.exit_bar),
                quantity=abs(size),
                entry_price=float(row.entry_price),
                exit_price=float(row.exit_price),
                gross=size * (float(row.exit_price) - float(row.entry_price)),
                fees=float(row.commission),
            )
        )
    return legs


def bar_of(bars: BarsFrame, moment: datetime) -> int:
    """The bar whose period holds `moment` (the last bar starting at or before it; 0 before
    the first)."""
    ns = pd.Timestamp(moment).tz_convert(UTC).value
    return max(int(np.searchsorted(bars.ts, ns, side="right")) - 1, 0)


def modelled_fill(bars: BarsFrame, bar: int, execution: ExecutionSettings, buying: bool) -> float:
    """The model's fill of an order in `bar`: its open (`next_open`) or close (`close`),
    moved against the order by the slippage, as the kernel fills."""
    price = float(bars.open[bar] if execution.fill == "next_open" else bars.close[bar])
    slip = execution.slippage_bps / 10_000.0
    return price * (1.0 + slip) if buying else price * (1.0 - slip)


def trader_leg(trade: Trade, bars: BarsFrame) -> Leg:
    if trade.closed_at is None or trade.exit_price is None:
        raise ValueError(f"trade {trade.id} is still open")
    return Leg(
        id=trade.id,
        symbol=trade.symbol,
        side=trade.side,
        entered_at=pd.Timestamp(trade.opened_at).tz_convert(UTC),
        exited_at=pd.Timestamp(trade.closed_at).tz_convert(UTC),
        entry_bar=bar_of(bars, trade.opened_at),
        exit_bar=bar_of(bars, trade.closed_at),
        quantity=trade.quantity * trade.multiplier,
        entry_price=trade.entry_price,
        exit_price=trade.exit_price,
        gross=trade.gross_pnl,
        fees=trade.fees,
    )


def journal_trades(
    journal: Journal, broker_account: str, symbol: str, start: date, end: date
) -> list[Trade]:
    """The trader's closed trades on one broker account and symbol opened in [start, end]."""
    executions = journal.all_executions({(broker_account, symbol)})
    return [
        t
        for t in match(executions)
        if t.status == "closed" and start <= t.opened_at.astimezone(UTC).date() <= end
    ]


def bar_step(bars: BarsFrame) -> pd.Timedelta:
    if len(bars) < 2:
        return pd.Timedelta(days=1)
    return pd.Timedelta(int(np.median(np.diff(bars.ts[: min(len(bars), 1000)]))), unit="ns")


# ------------------------------------------------------------------------------ report
def _leg_view(leg: Leg) -> LegView:
    return LegView(
        id=leg.id,
        symbol=leg.symbol,
        side=leg.side,
        entered_at=leg.entered_at.to_pydatetime(),
        exited_at=leg.exited_at.to_pydatetime(),
        entry_bar=leg.entry_bar,
        exit_bar=leg.exit_bar,
        quantity=leg.quantity,
        entry_price=leg.entry_price,
        exit_price=leg.exit_price,
        fees=leg.fees,
        net_pnl=float(leg.net()),
    )


def _floats(values: dict[str, Decimal]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}


def curve_of(result: Drift) -> list[CurvePoint]:
    """Each side's cumulative net P&L at every exit time (both sides at each point)."""
    steps: dict[pd.Timestamp, list[Decimal]] = {}
    sides = (
        ([p.strategy for p in result.pairs] + result.missed, 0),
        ([p.trader for p in result.pairs] + result.extra, 1),
    )
    for legs, side in sides:
        for leg in legs:
            steps.setdefault(leg.exited_at, [Decimal(0), Decimal(0)])[side] += leg.net()
    points = []
    totals = [Decimal(0), Decimal(0)]
    with localcontext(EXACT):
        for at in sorted(steps):
            totals = [totals[0] + steps[at][0], totals[1] + steps[at][1]]
            strategy, trader = float(totals[0]), float(totals[1])
            points.append(CurvePoint(at=at.to_pydatetime(), strategy=strategy, trader=trader))
    return points


def report_of(result: Drift) -> dict[str, Any]:
    """The figures of a `Drift` as the report's fields."""
    pairs = []
    for p in result.pairs:
        s, j, m = p.strategy, p.trader, p.modelled
        pairs.append(
            PairView(
                strategy=_leg_view(s),
                trader=_leg_view(j),
                entry_delay_bars=j.entry_bar - s.entry_bar,
                entry_delay_seconds=(j.entered_at - s.entered_at).total_seconds(),
                exit_delay_bars=j.exit_bar - s.exit_bar,
                exit_delay_seconds=(j.exited_at - s.exited_at).total_seconds(),
                modelled_entry_price=m.entry_price,
                modelled_exit_price=m.exit_price,
                entry_slippage=j.entry_price - m.entry_price,
                exit_slippage=j.exit_price - m.exit_price,
                size_difference=j.quantity - s.quantity,
                fee_difference=j.fees - s.fees,
                pnl_difference=float(p.difference),
                attribution=_floats(p.effects),
            )
        )
    causes = result.attribution()
    exact = {
        "strategyPnl": result.strategy_pnl,
        "traderPnl": result.trader_pnl,
        "difference": result.difference,
    } | causes
    return {
        "exact": {k: format(v, "f") for k, v in exact.items()},
        "strategy_pnl": float(result.strategy_pnl),
        "trader_pnl": float(result.trader_pnl),
        "difference": float(result.difference),
        "attribution": _floats(causes),
        "curve": curve_of(result),
        "pairs": pairs,
        "missed": [_leg_view(s) for s in result.missed],
        "extra": [_leg_view(j) for j in result.extra],
    }


def scope_drift(
    bars_by_symbol: dict[str, BarsFrame],
    trades_by_symbol: Mapping[str, Sequence[Trade]],
    strategy: str,
    params: dict[str, ParamValue],
    execution: ExecutionSettings,
    tolerance_bars: int,
    options: dict[str, str] | None = None,
) -> tuple[Drift, dict[str, float]]:
    """Replay `strategy` on each symbol's bars and hold it against the trader's trades."""
    impl = get_strategy(strategy)
    strategy_side: list[Leg] = []
    trader_side: list[Leg] = []
    modelled: dict[str, Modelled] = {}
    tolerances: dict[str, float] = {}
    for symbol, bars in bars_by_symbol.items():
        impl.check_fits(bars, [impl.check(params)])
        replay = run_backtest(bars, strategy, params, execution, options)
        strategy_side += strategy_legs(symbol, bars, replay.trades)
        step = bar_step(bars) * tolerance_bars
        tolerances[symbol] = step.total_seconds()
        for trade in trades_by_symbol.get(symbol, []):
            leg = trader_leg(trade, bars)
            trader_side.append(leg)
            long = leg.side == "long"
            modelled[leg.id] = Modelled(
                entry_price=modelled_fill(bars, leg.entry_bar, execution, buying=long),
                exit_price=modelled_fill(bars, leg.exit_bar, execution, buying=not long),
            )
    # one tolerance per symbol: match symbol by symbol
    pairs, missed, extra = [], [], []
    for symbol in bars_by_symbol:
        part = drift(
            [s for s in strategy_side if s.symbol == symbol],
            [j for j in trader_side if j.symbol == symbol],
            modelled,
            pd.Timedelta(seconds=tolerances[symbol]),
        )
        pairs += part.pairs
        missed += part.missed
        extra += part.extra
    return Drift(pairs=pairs, missed=missed, extra=extra), tolerances


class DriftPlan(ApiModel):
    """A request resolved: the strategy to replay and the execution model to replay it
    with, for one journal. What every step of a report works from (the synchronous route,
    and each activity of a fanned-out run)."""

    account_id: str = Field(description="Whose journal.")
    request: DriftRequest
    strategy: str
    params: dict[str, ParamValue]
    options: dict[str, str]
    execution: ExecutionSettings
    execution_sources: dict[str, ExecutionSource]


def plan_drift(request: DriftRequest, caller: Caller, journal: Journal) -> DriftPlan:
    """Resolve the strategy (404/422 here) and the execution model of a request."""
    strategy, params, options = resolve_strategy(request, caller)
    execution, sources = execution_of(request, journal.docs, journal.account)
    return DriftPlan(
        account_id=journal.account,
        request=request,
        strategy=strategy,
        params=params,
        options=options,
        execution=execution,
        execution_sources=sources,
    )


def symbol_drift(plan: DriftPlan, symbol: str, journal: Journal) -> tuple[Drift, float]:
    """One symbol of the scope: its drift and its matching tolerance (seconds)."""
    request = plan.request
    bars = {symbol: read_bars(symbol, request.interval, request.start, request.end)}
    trades = {
        symbol: journal_trades(journal, request.broker_account, symbol, request.start, request.end)
    }
    result, tolerances = scope_drift(
        bars,
        trades,
        plan.strategy,
        plan.params,
        plan.execution,
        request.tolerance_bars,
        plan.options,
    )
    return result, tolerances[symbol]


def combine(parts: Sequence[Drift]) -> Drift:
    """The symbols' drifts as one, in the given order (the request's symbol order)."""
    return Drift(
        pairs=[p for part in parts for p in part.pairs],
        missed=[leg for part in parts for leg in part.missed],
        extra=[leg for part in parts for leg in part.extra],
    )


def build_report(plan: DriftPlan, result: Drift, tolerances: dict[str, float]) -> DriftReport:
    """The report of a plan's combined drift: the same however the symbols were computed."""
    request = plan.request
    return DriftReport(
        strategy=plan.strategy,
        params=plan.params,
        strategy_id=request.strategy_id,
        strategy_version=request.strategy_version,
        symbols=request.symbols,
        start=request.start,
        end=request.end,
        broker_account=request.broker_account,
        interval=request.interval,
        tolerance_seconds=tolerances,
        execution=plan.execution,
        execution_sources=plan.execution_sources,
        **report_of(result),
    )


def drift_report(request: DriftRequest, caller: Caller, journal: Journal) -> DriftReport:
    """The whole report of one request (synchronous): each symbol in turn."""
    plan = plan_drift(request, caller, journal)
    parts = [symbol_drift(plan, symbol, journal) for symbol in request.symbols]
    tolerances = {s: tolerance for s, (_, tolerance) in zip(request.symbols, parts, strict=True)}
    return build_report(plan, combine([part for part, _ in parts]), tolerances)


def account_report(request: DriftRequest, caller: Caller, account: str) -> DriftReport:
    """`drift_report` on `account`'s journal: picklable arguments, for the request worker
    process (`shared.offload.run_cpu`)."""
    return drift_report(request, caller, journal_of(account))


__all__ = [
    "CAUSES",
    "DriftPlan",
    "DriftReport",
    "DriftRequest",
    "account_report",
    "build_report",
    "combine",
    "drift_report",
    "plan_drift",
    "scope_drift",
    "symbol_drift",
]
