"""Bars in the Parquet lake: partitioned by interval/symbol/period, merged with provenance.

Layout: `bars/interval=1d/symbol=AAPL/period=2024/part.parquet` (daily bars: one partition per
year) and `bars/interval=5m/symbol=AAPL/period=2024-05/part.parquet` (intraday: per month), so
a day's sync rewrites one small partition per symbol.

One row per (symbol, interval, ts), carrying its provenance: `source` (the provider),
`adjustment` (how its OHLC were adjusted) and `ingested_at`. A stored row is replaced only
when an incoming row for the same ts carries different values AND comes from the same source
(a correction) or from a source of higher precedence; otherwise the stored row, with its
`ingested_at`, stays. A run that brings nothing new therefore writes nothing, and the same
run twice leaves byte-identical partitions.

A merge never loses information (`resolve`): a field the stored row has (`volume`,
`adj_close`) is never replaced by null — it is carried over (`adj_close` only when the close
agrees; else the merge is refused); and a raw
row (as traded, no `adj_close`) never replaces an adjusted one (`adj_close` present or
adjusted OHLC) whose prices differ: that merge is refused, the stored row stays, and the
refusal is counted and named in the run's report.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from shared.errors import InvalidInput
from shared.market.models import Bar
from shared.storage.lake import FILE_NAME, ParquetLake

DATASET = "bars"
PARTITION_BY = ("interval", "symbol", "period")
VALUE_COLUMNS = ("open", "high", "low", "close", "volume", "adj_close", "source", "adjustment")
SOURCE_RANK: dict[str, int] = {"alphavantage": 3, "yahoo": 2, "coingecko": 2, "sample": 1}
TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("interval", pa.string()),
        ("period", pa.string()),
        ("ts", TS),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("adj_close", pa.float64()),
        ("source", pa.string()),
        ("adjustment", pa.string()),
        ("ingested_at", TS),
    ]
)
BAR_COLUMNS = [name for name in SCHEMA.names if name != "period"]
BAR_SCHEMA = SCHEMA.remove(SCHEMA.get_field_index("period"))


class TooManyBars(InvalidInput):
    """A bar request matches more rows than BARS_MAX_ROWS allows in one response."""

    title = "Too many bars"


def _utc_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _between(table: pa.Table, start: datetime | None, end: datetime | None) -> pa.Table:
    mask = None
    if start is not None:
        mask = pc.greater_equal(table["ts"], pa.scalar(start.astimezone(UTC), TS))
    if end is not None:
        below = pc.less(table["ts"], pa.scalar(end.astimezone(UTC), TS))
        mask = below if mask is None else pc.and_(mask, below)
    return table if mask is None else table.filter(mask)


def period_of(interval: str, ts: datetime) -> str:
    return f"{ts.year:04d}" if interval == "1d" else f"{ts.year:04d}-{ts.month:02d}"


@dataclass
class MergeSummary:
    """What merging a batch of bars did to the lake."""

    rows_in: int = 0
    rows_written: int = 0
    partitions_changed: int = 0
    partitions_touched: int = 0
    bytes_written: int = 0
    last_ts: dict[tuple[str, str], datetime] = field(default_factory=dict)
    refused: int = 0
    refusals: list[str] = field(default_factory=list)
    """The first few refused rows, named (symbol, interval, ts, why)."""

    def add(self, other: MergeSummary) -> None:
        self.refused += other.refused
        self.refusals.extend(other.refusals[: max(0, 20 - len(self.refusals))])
        self.rows_in += other.rows_in
        self.rows_written += other.rows_written
        self.partitions_changed += other.partitions_changed
        self.partitions_touched += other.partitions_touched
        self.bytes_written += other.bytes_written
        for key, ts in other.last_ts.items():
            if key not in self.last_ts or ts > self.last_ts[key]:
                self.last_ts[key] = ts


OPEN, HIGH, LOW, CLOSE, VOLUME, ADJ_CLOSE, SOURCE, ADJUSTMENT = range(8)


def _wins(new: tuple[object, ...], old: tuple[object, ...]) -> bool:
    if new == old:
        return False
    new_source, old_source = str(new[SOURCE]), str(old[SOURCE])
    return new_source == old_source or SOURCE_RANK.get(new_source, 0) > SOURCE_RANK.get(
        old_source, 0
    )


def _adjusted(values: tuple[object, ...]) -> bool:
    return values[ADJ_CLOSE] is not None or values[ADJUSTMENT] != "none"


def resolve(
    new: tuple[object, ...], old: tuple[object, ...]
) -> tuple[tuple[object, ...] | None, str | None]:
    """What a stored row `old` becomes when `new` arrives for the same bar: (values to
    store or None to keep `old`, why the merge was refused or None). See the module text."""
    if not _wins(new, old):
        return None, None
    same_prices = new[OPEN:VOLUME] == old[OPEN:VOLUME]
    if _adjusted(old) and not _adjusted(new) and not same_prices:
        return None, (
            f"raw {new[SOURCE]} prices differ from the stored adjusted "
            f"({old[ADJUSTMENT]}, adj_close={old[ADJ_CLOSE]}) {old[SOURCE]} row"
        )
    merged = list(new)
    for index in (ADJ_CLOSE, VOLUME):
        if merged[index] is None and old[index] is not None:
            if index == ADJ_CLOSE and new[CLOSE] != old[CLOSE]:
                return None, (
                    f"{new[SOURCE]} row without adj_close has another close ({new[CLOSE]}) "
                    f"than the stored {old[SOURCE]} row ({old[CLOSE]}, adj_close="
                    f"{old[ADJ_CLOSE]})"
                )
            merged[index] = old[index]
    result = tuple(merged)
    return (None, None) if result == old else (result, None)


def _values(bar: Bar) -> tuple[object, ...]:
    return (
        bar.open,
        bar.high,
        bar.low,
        bar.close,
        bar.volume,
        bar.adj_close,
        bar.source,
        bar.adjustment,
    )


def bars_table(bars: Sequence[Bar], ingested_at: datetime) -> pa.Table:
    """Bars as an Arrow table with the lake schema."""
    return pa.table(
        {
            "symbol": [b.symbol for b in bars],
            "interval": [b.interval for b in bars],
            "period": [period_of(b.interval, b.ts) for b in bars],
            "ts": [b.ts for b in bars],
            "open": [b.open for b in bars],
            "high": [b.high for b in bars],
            "low": [b.low for b in bars],
            "close": [b.close for b in bars],
            "volume": [b.volume for b in bars],
            "adj_close": [b.adj_close for b in bars],
            "source": [b.source for b in bars],
            "adjustment": [b.adjustment for b in bars],
            "ingested_at": [ingested_at] * len(bars),
        },
        schema=SCHEMA,
    )


class BarLake:
    """Reads and merges bars in a `ParquetLake`."""

    def __init__(self, lake: ParquetLake) -> None:
        self.lake = lake

    def merge(self, bars: Iterable[Bar], *, ingested_at: datetime) -> MergeSummary:
        """Merge bars (any symbols/intervals); see the module docstring for who wins."""
        groups: dict[tuple[str, str, str], dict[datetime, Bar]] = defaultdict(dict)
        summary = MergeSummary()
        for bar in bars:
            summary.rows_in += 1
            groups[(bar.interval, bar.symbol, period_of(bar.interval, bar.ts))][bar.ts] = bar
        for (interval, symbol, period), by_ts in sorted(groups.items()):
            summary.add(self._merge_partition(interval, symbol, period, by_ts, ingested_at))
        return summary

    def _merge_partition(
        self,
        interval: str,
        symbol: str,
        period: str,
        by_ts: dict[datetime, Bar],
        ingested_at: datetime,
    ) -> MergeSummary:
        partition = {"interval": interval, "symbol": symbol, "period": period}
        stored = self.lake.read_partition(DATASET, partition)
        existing: dict[datetime, tuple[object, ...]] = {}
        if stored is not None and stored.num_rows:
            columns = [stored[name].to_pylist() for name in ("ts", *VALUE_COLUMNS)]
            for row in zip(*columns, strict=True):
                existing[row[0]] = tuple(row[1:])
        summary = MergeSummary(partitions_touched=1)
        winners = []
        for ts, bar in sorted(by_ts.items()):
            if ts not in existing:
                winners.append(bar)
                continue
            values, refused = resolve(_values(bar), existing[ts])
            if refused is not None:
                summary.refused += 1
                if len(summary.refusals) < 20:
                    summary.refusals.append(f"{symbol} {interval} {_utc_text(ts)}: {refused}")
            elif values is not None:
                winners.append(
                    bar.model_copy(
                        update={"volume": values[VOLUME], "adj_close": values[ADJ_CLOSE]}
                    )
                )
        last = max(by_ts)
        if existing:
            last = max(last, max(existing))
        summary.last_ts[(symbol, interval)] = last
        if not winners:
            return summary
        result = self.lake.merge_partition(
            DATASET, partition, bars_table(winners, ingested_at), key=["ts"]
        )
        summary.rows_written = len(winners)
        summary.partitions_changed = 1 if result.changed else 0
        summary.bytes_written = result.bytes_written
        return summary

    def periods(self, symbol: str, interval: str) -> list[str]:
        """The stored periods of one series, listing only that series' blob prefix."""
        prefix = f"{DATASET}/interval={interval}/symbol={symbol}/"
        found = []
        for info in self.lake.blobs.list(prefix):
            head, _, tail = info.name[len(prefix) :].partition("/")
            if head.startswith("period=") and tail == FILE_NAME:
                found.append(head.removeprefix("period="))
        return sorted(found)

    def read(
        self,
        symbol: str,
        interval: str,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        max_rows: int | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Bars of one series with start <= ts < end, sorted by ts, without `period`; with
        `columns`, only those (and `ts`), in the lake's order: the others are not decoded.

        From a remote store the partitions are fetched a few at a time
        (`ParquetLake.read_partitions`); only the (at most two) partitions the range cuts are
        filtered, as in `count`.
        With `max_rows`, reading stops at the first partition that takes the count past it
        and `TooManyBars` names the range holding the first `max_rows` bars, so memory stays
        within `max_rows` plus the partitions read ahead (`READ_AHEAD`)."""
        names = BAR_COLUMNS
        if columns is not None:
            unknown = sorted(set(columns) - set(BAR_COLUMNS))
            if unknown:
                raise ValueError(f"not bar columns: {', '.join(unknown)}")
            names = [name for name in BAR_COLUMNS if name == "ts" or name in columns]
        schema = pa.schema([BAR_SCHEMA.field(name) for name in names])
        low = period_of(interval, start) if start is not None else ""
        high = period_of(interval, end) if end is not None else "~"
        periods = [p for p in self.periods(symbol, interval) if low <= p <= high]
        parts = [{"interval": interval, "symbol": symbol, "period": p} for p in periods]
        stored = self.lake.read_partitions(DATASET, parts, names)
        tables = []
        rows = 0
        for period, table in zip(periods, stored, strict=True):
            if table is None:
                continue
            table = table.select(names)
            if not table.schema.equals(schema):
                table = table.cast(schema)
            if not low < period < high:
                table = _between(table, start, end)
            tables.append(table)
            rows += table.num_rows
            if max_rows is not None and rows > max_rows:
                raise self._too_many(symbol, interval, pa.concat_tables(tables), max_rows)
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables).sort_by("ts")

    def count(
        self, symbol: str, interval: str, start: datetime | None = None, end: datetime | None = None
    ) -> int:
        """How many bars of one series have start <= ts < end, as `read` would return them:
        a partition wholly inside the range counts from its Parquet footer (no row read); only
        the (at most two) partitions the range cuts read their `ts` column."""
        low = period_of(interval, start) if start is not None else ""
        high = period_of(interval, end) if end is not None else "~"
        total = 0
        for period in self.periods(symbol, interval):
            if not low <= period <= high:
                continue
            part = {"interval": interval, "symbol": symbol, "period": period}
            if low < period < high:
                total += self.lake.partition_rows(DATASET, part)
                continue
            stamps = self.lake.read_partition(DATASET, part, columns=["ts"])
            if stamps is not None:
                total += _between(stamps.cast(pa.schema([SCHEMA.field("ts")])), start, end).num_rows
        return total

    @staticmethod
    def _too_many(symbol: str, interval: str, head: pa.Table, max_rows: int) -> TooManyBars:
        ts = head.sort_by("ts")["ts"]
        first, cut = _utc_text(ts[0].as_py()), _utc_text(ts[max_rows].as_py())
        return TooManyBars(
            f"more than {max_rows} {interval} bars of {symbol} match; one response holds at "
            f"most {max_rows} (BARS_MAX_ROWS). Narrow start/end: the first {max_rows} are "
            f"start={first}&end={cut} (end exclusive); continue with start={cut}"
        )

    def last_ts(self, symbol: str, interval: str) -> datetime | None:
        """The newest bar's time of a series (reads only its newest partition)."""
        periods = self.periods(symbol, interval)
        if not periods:
            return None
        part = {"interval": interval, "symbol": symbol, "period": periods[-1]}
        table = self.lake.read_partition(DATASET, part)
        if table is None or table.num_rows == 0:
            return None
        value = pc.max(table["ts"]).as_py()
        return value if isinstance(value, datetime) else None


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00 UTC, end+1 00:00 UTC): an inclusive date range as datetimes."""
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    stop = datetime(end.year, end.month, end.day, tzinfo=UTC) + timedelta(days=1)
    return begin, stop
