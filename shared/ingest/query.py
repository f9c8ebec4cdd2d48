"""Reading bars for the API: query parsing and json/csv/parquet encodings."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from shared.errors import InvalidInput
from shared.market.models import INTERVALS

FORMATS = ("json", "csv", "parquet")


def parse_when(text: str | None, name: str, *, end: bool = False) -> datetime | None:
    """An ISO date or datetime; a bare date as `end` means the end of that day (exclusive)."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except ValueError:
        raise InvalidInput(
            f"{name} {text!r} is not a date: use YYYY-MM-DD or an ISO 8601 datetime"
        ) from None
    except OverflowError:
        raise InvalidInput(f"{name} {text!r} is out of range") from None


def parse_bar_query(
    interval: str | None, start: str | None, end: str | None, fmt: str | None
) -> tuple[str, datetime | None, datetime | None, str]:
    interval = interval or "1d"
    if interval not in INTERVALS:
        raise InvalidInput(f"interval {interval!r} is not one of {', '.join(INTERVALS)}")
    fmt = (fmt or "json").lower()
    if fmt not in FORMATS:
        raise InvalidInput(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    begin = parse_when(start, "start")
    stop = parse_when(end, "end", end=True)
    if begin and stop and begin >= stop:
        raise InvalidInput("start must be before end")
    return interval, begin, stop, fmt


def _iso(value: Any) -> Any:
    """A datetime as the API writes every time: ISO 8601, UTC spelled `Z`."""
    if not isinstance(value, datetime):
        return value
    text = value.isoformat()
    return text[: -len("+00:00")] + "Z" if text.endswith("+00:00") else text


def bars_json(table: pa.Table) -> list[dict[str, Any]]:
    names = {"adj_close": "adjClose", "ingested_at": "ingestedAt"}
    rows = table.to_pylist()
    return [{names.get(k, k): _iso(v) for k, v in row.items()} for row in rows]


def bars_csv(table: pa.Table) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.schema.names)
    for row in table.to_pylist():
        writer.writerow(["" if v is None else _iso(v) for v in row.values()])
    return out.getvalue()


def bars_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


_TIME_KEYS = ("ts", "ingestedAt", "ingested_at", "updatedAt", "updated_at")


def utc_z(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its UTC times as every API time is written (`...Z`, as `ApiModel` does);
    the lake and the stored quotes spell them `+00:00`."""
    for key in _TIME_KEYS:
        value = row.get(key)
        if isinstance(value, str) and "T" in value and value.endswith("+00:00"):
            row[key] = value[: -len("+00:00")] + "Z"
    return row


def stored_bars_body(
    symbol: str,
    interval: str,
    start: datetime | None,
    end: datetime | None,
    fmt: str,
    max_rows: int,
) -> tuple[int, bytes]:
    """(row count, encoded body) of one series' stored bars in [start, end) as `fmt`: read
    and encoded together, in the request worker process (`shared.offload`), since encoding
    thousands of rows as CSV/JSON is ~100 ms of Python that would otherwise hold the host's
    event loop. `TooManyBars` past `max_rows`."""
    from shared.ingest.bars import BarLake
    from shared.storage.factory import lake

    table = BarLake(lake()).read(symbol, interval, start, end, max_rows=max_rows)
    if fmt == "csv":
        return table.num_rows, bars_csv(table).encode()
    if fmt == "parquet":
        return table.num_rows, bars_parquet(table)
    body = {"symbol": symbol, "interval": interval, "count": table.num_rows}
    body["bars"] = bars_json(table)
    return table.num_rows, json.dumps(body, default=str, allow_nan=False).encode()


def _day_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """[start 00:00 UTC, end+1 00:00 UTC), either side open when None."""
    begin = datetime.combine(start, datetime.min.time(), UTC) if start else None
    stop = datetime.combine(end + timedelta(days=1), datetime.min.time(), UTC) if end else None
    return begin, stop


def lake_bar_count(symbol: str, interval: str, start: date | None, end: date | None) -> int:
    """How many bars `lake_bars` would return, from the lake's Parquet footers (only the
    partitions the range cuts read their `ts` column): no bar is read or converted."""
    from shared.ingest.bars import BarLake
    from shared.storage.factory import lake

    begin, stop = _day_bounds(start, end)
    return BarLake(lake()).count(symbol, interval, begin, stop)


def lake_bars(
    symbol: str, interval: str, start: date | None, end: date | None, max_rows: int | None = None
) -> Any:
    """The lake's bars of one series in [start, end] (UTC days, None: open) as the engine's
    `BarsFrame` (checked by `load_bars`): what a backtest and a drift replay run on."""
    import pandas as pd

    from shared.backtest import load_bars
    from shared.ingest.bars import BarLake
    from shared.storage.factory import lake

    begin, stop = _day_bounds(start, end)
    columns = ["open", "high", "low", "close", "volume"]
    table = BarLake(lake()).read(symbol, interval, begin, stop, max_rows=max_rows, columns=columns)
    frame = table.select(["ts", *columns]).to_pandas()
    frame["volume"] = frame["volume"].astype(float).fillna(0.0)
    frame.index = pd.DatetimeIndex(frame.pop("ts"))
    return load_bars(frame, symbol=symbol)
