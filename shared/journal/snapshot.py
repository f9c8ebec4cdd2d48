"""The columnar snapshot of an account's trades: what analytics read.

One Arrow table per account (one row per trade, annotations joined in), stored as one
Parquet blob and held in memory as numpy columns. Derived, never authoritative: it is
rebuilt from the document store whenever its version is not the journal's current one.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shared.journal.models import Annotation, Trade

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("broker_account", pa.string()),
        ("symbol", pa.string()),
        ("side", pa.int8()),
        ("closed", pa.bool_()),
        ("opened_at", pa.timestamp("ns", tz="UTC")),
        ("closed_at", pa.timestamp("ns", tz="UTC")),
        ("quantity", pa.float64()),
        ("entry_price", pa.float64()),
        ("exit_price", pa.float64()),
        ("gross", pa.float64()),
        ("fees", pa.float64()),
        ("net", pa.float64()),
        ("fx_rate", pa.float64()),
        ("currency", pa.string()),
        ("capital", pa.float64()),
        ("holding_seconds", pa.float64()),
        ("risk", pa.float64()),
        ("setup", pa.string()),
        ("strategy", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("mistakes", pa.list_(pa.string())),
    ]
)
KEY_COLUMNS = ("broker_account", "symbol")


def risk_of(trade: Trade, annotation: Annotation | None) -> float:
    """The money at risk the planned stop implies (NaN without a stop): the R unit."""
    if annotation is None or annotation.planned_stop is None:
        return float("nan")
    per_unit = abs(trade.entry_price - annotation.planned_stop)
    risk = per_unit * trade.max_position * trade.multiplier * trade.fx_rate
    return risk if risk > 0 else float("nan")


def rows(trades: Iterable[Trade], annotations: dict[str, Annotation]) -> pa.Table:
    """Trades (with their annotations) as snapshot rows."""
    data: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for trade in trades:
        note = annotations.get(trade.id)
        data["id"].append(trade.id)
        data["broker_account"].append(trade.broker_account)
        data["symbol"].append(trade.symbol)
        data["side"].append(1 if trade.side == "long" else -1)
        data["closed"].append(trade.status == "closed")
        data["opened_at"].append(trade.opened_at)
        data["closed_at"].append(trade.closed_at)
        data["quantity"].append(trade.quantity)
        data["entry_price"].append(trade.entry_price)
        data["exit_price"].append(trade.exit_price)
        data["gross"].append(trade.gross_pnl)
        data["fees"].append(trade.fees)
        data["net"].append(trade.net_pnl)
        data["fx_rate"].append(trade.fx_rate)
        data["currency"].append(trade.currency)
        data["capital"].append(trade.capital)
        data["holding_seconds"].append(trade.holding_seconds)
        data["risk"].append(risk_of(trade, note))
        data["setup"].append(note.setup if note and note.setup else "")
        data["strategy"].append(note.strategy_id if note and note.strategy_id else "")
        data["tags"].append(note.tags if note else [])
        data["mistakes"].append(note.mistakes if note else [])
    return pa.Table.from_pydict(data, schema=SCHEMA)


def replace_groups(table: pa.Table, groups: Sequence[tuple[str, str]], fresh: pa.Table) -> pa.Table:
    """`table` with the rows of `groups` (broker account, symbol) replaced by `fresh`."""
    if groups and table.num_rows:
        frame = table.select(list(KEY_COLUMNS)).to_pandas()
        keys = pd.MultiIndex.from_frame(frame)
        drop = keys.isin(pd.MultiIndex.from_tuples(list(groups), names=list(KEY_COLUMNS)))
        table = table.filter(pa.array(~np.asarray(drop)))
    merged = pa.concat_tables([table, fresh.cast(SCHEMA)])
    order = np.lexsort(
        (merged.column("id").to_numpy(zero_copy_only=False), _ns(merged, "opened_at"))
    )
    return merged.take(pa.array(order))


def _ns(table: pa.Table, name: str) -> np.ndarray:
    column = table.column(name).cast(pa.int64()).fill_null(-1)
    return np.asarray(column.to_numpy(), dtype=np.int64)


def to_parquet(table: pa.Table, version: int) -> bytes:
    sink = io.BytesIO()
    meta = {b"journal_version": str(version).encode()}
    pq.write_table(table.replace_schema_metadata(meta), sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> tuple[pa.Table, int]:
    table = pq.read_table(io.BytesIO(data))
    meta = table.schema.metadata or {}
    version = int(meta.get(b"journal_version", b"-1"))
    return table.replace_schema_metadata(None).cast(SCHEMA), version


@dataclass
class TradeFrame:
    """Numpy columns of a snapshot, with codes for the text columns and per-time-zone
    calendar columns computed once."""

    table: pa.Table
    version: int
    id: np.ndarray = field(init=False)
    side: np.ndarray = field(init=False)
    closed: np.ndarray = field(init=False)
    opened_ns: np.ndarray = field(init=False)
    closed_ns: np.ndarray = field(init=False)
    gross: np.ndarray = field(init=False)
    fees: np.ndarray = field(init=False)
    net: np.ndarray = field(init=False)
    holding: np.ndarray = field(init=False)
    r: np.ndarray = field(init=False)
    codes: dict[str, tuple[np.ndarray, np.ndarray]] = field(init=False)
    lists: dict[str, list[list[str]]] = field(init=False)
    _local: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(
        init=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        t = self.table

        def floats(name: str) -> np.ndarray:
            return np.asarray(t.column(name).to_numpy(zero_copy_only=False), dtype=np.float64)

        fx = floats("fx_rate")
        self.id = np.asarray(t.column("id").to_numpy(zero_copy_only=False), dtype=object)
        self.side = np.asarray(t.column("side").to_numpy(), dtype=np.int8)
        self.closed = np.asarray(t.column("closed").to_numpy(zero_copy_only=False), dtype=bool)
        self.opened_ns = _ns(t, "opened_at")
        self.closed_ns = _ns(t, "closed_at")
        self.gross = floats("gross") * fx
        self.fees = floats("fees") * fx
        self.net = floats("net") * fx
        self.holding = floats("holding_seconds")
        with np.errstate(invalid="ignore", divide="ignore"):
            self.r = self.net / floats("risk")
        self.codes = {}
        for name in ("symbol", "broker_account", "setup", "strategy"):
            values = t.column(name).to_numpy(zero_copy_only=False).astype(str)
            labels, codes = np.unique(values, return_inverse=True)
            self.codes[name] = (labels, codes.astype(np.int32))
        self.lists = {name: t.column(name).to_pylist() for name in ("tags", "mistakes")}

    def __len__(self) -> int:
        return self.table.num_rows

    def local(self, tz: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(close day as days since 1970-01-01, entry weekday 0=Mon, entry hour) in `tz`."""
        found = self._local.get(tz)
        if found is None:
            ns = np.where(self.closed_ns >= 0, self.closed_ns, 0)
            closed = pd.DatetimeIndex(pd.to_datetime(ns, unit="ns", utc=True)).tz_convert(tz)
            opened = pd.DatetimeIndex(
                pd.to_datetime(self.opened_ns, unit="ns", utc=True)
            ).tz_convert(tz)
            wall = closed.tz_localize(None).as_unit("ns").asi8
            day = (wall // 86_400_000_000_000).astype(np.int64)
            found = (
                day,
                np.asarray(opened.weekday, dtype=np.int8),
                np.asarray(opened.hour, dtype=np.int8),
            )
            self._local[tz] = found
        return found
