"""Broker trade files into executions: Interactive Brokers Flex Query trades (CSV), Webull
order records (CSV) and the journal's own generic CSV template.

A file is all-or-nothing: every row is checked first and any bad row (reported by line
and column) rejects the whole file. Re-importing a file adds nothing: an execution's id
comes from the broker's execution id, else from its content plus its occurrence number
within the file (two identical fills in one file stay two). Times are read in the zone
the file states (Webull writes EST/EDT after each time; the generic template requires an
offset); IB Flex writes none, and IB reports in US Eastern time, so that is the default
(`tz` overrides it). A trade in another currency is recorded in it, with the rate to the
base currency the file states (IB: FXRateToBase; generic: fx_rate).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError

from shared.api_model import ApiModel
from shared.errors import DomainError, InvalidInput
from shared.journal.models import BrokerAccount, ExecutionIn
from shared.journal.store import Journal

ImportFormat = Literal["ibkr_flex", "webull", "generic"]
FORMATS: tuple[ImportFormat, ...] = ("ibkr_flex", "webull", "generic")
MAX_IMPORT_CHARS = 5_000_000
MAX_IMPORT_BODY_BYTES = 8 * 1024 * 1024  # the JSON around `content`, escapes included
MAX_IMPORT_ROWS = 50_000
MAX_REPORTED_ERRORS = 200
IB_DEFAULT_TZ = "America/New_York"

# US zone abbreviations Webull writes after its times, with their UTC offsets.
ZONE_ABBREVIATIONS = {
    "EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6,
    "PST": -8, "PDT": -7, "UTC": 0, "GMT": 0,
}  # fmt: skip
GENERIC_COLUMNS = (
    "broker_account",
    "symbol",
    "side",
    "quantity",
    "price",
    "fees",
    "executed_at",
    "currency",
    "fx_rate",
    "multiplier",
    "external_id",
)


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class RowError(ApiModel):
    line: int = Field(description="1-based line in the file (the header is line 1).")
    column: str
    message: str


class ImportRejected(InvalidInput):
    """The file has bad rows; nothing of it was stored."""

    title = "Import rejected"

    def __init__(self, errors: list[RowError], total: int) -> None:
        shown = "; ".join(f"line {e.line}, {e.column}: {e.message}" for e in errors[:5])
        more = f" (and {total - 5} more)" if total > 5 else ""
        super().__init__(f"{total} bad row(s), nothing imported: {shown}{more}")
        self.errors = errors
        self.total = total


class ImportRequest(ApiModel):
    """A broker file to import (the file's text in `content`)."""

    format: ImportFormat
    content: str = Field(max_length=MAX_IMPORT_CHARS)
    filename: str = Field("upload.csv", min_length=1, max_length=255)
    broker_account: BrokerAccount | None = Field(
        None, description="For files that do not name the account (Webull; generic rows without)."
    )
    tz: str | None = Field(
        None, max_length=64, description="IANA zone of times the file writes without one."
    )


class ImportResult(ApiModel):
    import_id: str
    format: ImportFormat
    filename: str
    rows: int = Field(description="Data rows read.")
    executions: int
    added: int
    duplicates: int = Field(description="Already in the journal (a re-import adds nothing).")
    skipped: int = Field(description="Rows that are not executions (cancelled orders, summaries).")
    broker_accounts: list[str]
    currencies: dict[str, int] = Field(description="Executions per currency, as the file states.")
    imported_at: datetime


@dataclass
class Parsed:
    executions: list[ExecutionIn] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0


class _Rows:
    """CSV rows with their line numbers, the header mapped to column positions."""

    def __init__(self, text: str) -> None:
        self.reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
        self.header: list[str] = []
        self.count = 0

    def _records(self) -> Iterator[list[str]]:
        while True:
            try:
                yield next(self.reader)
            except StopIteration:
                return
            except csv.Error as error:
                raise InvalidInput(f"line {self.reader.line_num}: not CSV ({error})") from None

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        for record in self._records():
            line = self.reader.line_num
            if not record or not any(cell.strip() for cell in record):
                continue
            if record[0] in ("BOF", "BOA", "BOS", "EOS", "EOA", "EOF"):
                continue
            cells = [cell.strip() for cell in record]
            if not self.header or cells == self.header:
                self.header = cells
                continue
            self.count += 1
            if self.count > MAX_IMPORT_ROWS:
                raise PayloadTooLarge(f"the file has more than {MAX_IMPORT_ROWS} rows")
            yield line, dict(zip(self.header, cells, strict=False))


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"tz {name!r} is not an IANA time zone") from None


def _number(text: str) -> float:
    cleaned = text.replace(",", "").replace("$", "").replace("@", "").strip()
    if not cleaned or len(cleaned) > 32:
        raise ValueError(f"{text!r} is not a number")
    value = float(cleaned)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{text!r} is not a finite number")
    return value


_IB_TIME = re.compile(r"^(\d{4})-?(\d{2})-?(\d{2})[;, T]+(\d{2}):?(\d{2}):?(\d{2})$")
_WEBULL_TIME = re.compile(r"^(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([A-Z]{3})$")


def _ib_time(text: str, zone: ZoneInfo) -> datetime:
    found = _IB_TIME.match(text)
    if not found:
        raise ValueError(f"{text!r} is not yyyyMMdd;HHmmss (or yyyy-MM-dd;HH:mm:ss)")
    y, mo, d, h, mi, s = (int(g) for g in found.groups())
    return datetime(y, mo, d, h, mi, s, tzinfo=zone)


def _webull_time(text: str) -> datetime:
    found = _WEBULL_TIME.match(text)
    if not found:
        raise ValueError(f"{text!r} is not MM/DD/YYYY HH:MM:SS ZONE")
    mo, d, y, h, mi, s = (int(g) for g in found.groups()[:6])
    abbreviation = found.group(7)
    if abbreviation not in ZONE_ABBREVIATIONS:
        raise ValueError(f"zone {abbreviation!r} is not one of {', '.join(ZONE_ABBREVIATIONS)}")
    offset = timezone(timedelta(hours=ZONE_ABBREVIATIONS[abbreviation]))
    return datetime(y, mo, d, h, mi, s, tzinfo=offset)


class _Collector:
    def __init__(self) -> None:
        self.errors: list[RowError] = []
        self.total = 0

    def add(self, line: int, column: str, message: str) -> None:
        self.total += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append(RowError(line=line, column=column, message=message))

    def cell(
        self, line: int, row: dict[str, str], column: str, read: Callable[[str], object]
    ) -> object:
        text = row.get(column)
        if text is None or text == "":
            self.add(line, column, "missing")
            return None
        try:
            return read(text)
        except ValueError as error:
            self.add(line, column, str(error))
            return None


def _validated(
    errors: _Collector, line: int, fields: dict[str, object], columns: dict[str, str], before: int
) -> ExecutionIn | None:
    """The row as an execution, unless one of its cells was already reported bad."""
    if errors.total > before:
        return None
    try:
        return ExecutionIn.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as error:
        for item in error.errors():
            name = str(item["loc"][0]) if item["loc"] else "row"
            errors.add(line, columns.get(name, name), item["msg"])
        return None


def _require(rows: _Rows, errors: _Collector, needed: tuple[str, ...]) -> bool:
    missing = [name for name in needed if name not in rows.header]
    for name in missing:
        errors.add(1, name, "column missing from the header")
    return not missing


def _parse_ibkr(
    text: str, broker_account: str | None, tz: str | None, out: Parsed, errors: _Collector
) -> None:
    zone = _zone(tz or IB_DEFAULT_TZ)
    rows = _Rows(text)
    columns = {
        "symbol": "Symbol",
        "side": "Buy/Sell",
        "quantity": "Quantity",
        "price": "TradePrice",
        "fees": "IBCommission",
        "executed_at": "DateTime",
        "currency": "CurrencyPrimary",
        "fx_rate": "FXRateToBase",
        "multiplier": "Multiplier",
        "broker_account": "ClientAccountID",
        "external_id": "IBExecID",
    }
    checked = False
    for line, row in rows:
        if not checked:
            checked = True
            needed = ("Symbol", "Buy/Sell", "Quantity", "TradePrice")
            if not _require(rows, errors, needed):
                return
            if "DateTime" not in rows.header and not {"TradeDate", "TradeTime"} <= set(rows.header):
                errors.add(1, "DateTime", "column missing (or TradeDate and TradeTime)")
                return
        out.rows += 1
        before = errors.total
        detail = row.get("LevelOfDetail", "EXECUTION").upper()
        side_text = row.get("Buy/Sell", "").upper()
        if detail not in ("", "EXECUTION") or "(CA.)" in side_text:
            out.skipped += 1
            continue
        stamp = row.get("DateTime") or f"{row.get('TradeDate', '')};{row.get('TradeTime', '')}"
        time_column = "DateTime" if row.get("DateTime") else "TradeDate/TradeTime"
        executed = errors.cell(line, {time_column: stamp}, time_column, lambda t: _ib_time(t, zone))
        quantity = errors.cell(line, row, "Quantity", _number)
        side: str | None = None
        if side_text in ("BUY", "SELL"):
            side = side_text.lower()
        else:
            errors.add(line, "Buy/Sell", f"{side_text!r} is not BUY or SELL")
        commission = (
            errors.cell(line, row, "IBCommission", _number) if row.get("IBCommission") else 0.0
        )
        account = row.get("ClientAccountID") or broker_account or "ibkr"
        commission_currency = row.get("IBCommissionCurrency", "")
        currency = row.get("CurrencyPrimary") or "USD"
        if commission_currency and commission_currency != currency:
            errors.add(
                line, "IBCommissionCurrency", f"{commission_currency} differs from {currency}"
            )
        fields: dict[str, object] = {
            "broker_account": account,
            "symbol": row.get("Symbol"),
            "side": side,
            "quantity": abs(quantity) if isinstance(quantity, float) else None,
            "price": errors.cell(line, row, "TradePrice", _number),
            "fees": abs(commission) if isinstance(commission, float) else None,
            "executed_at": executed,
            "currency": currency,
            "fx_rate": errors.cell(line, row, "FXRateToBase", _number)
            if row.get("FXRateToBase")
            else 1.0,
            "multiplier": errors.cell(line, row, "Multiplier", _number)
            if row.get("Multiplier")
            else 1.0,
            "external_id": row.get("IBExecID") or row.get("TradeID") or None,
        }
        if side is None:
            continue
        item = _validated(errors, line, fields, {**columns, "executed_at": time_column}, before)
        if item is not None:
            out.executions.append(item)


def _parse_webull(text: str, broker_account: str | None, out: Parsed, errors: _Collector) -> None:
    rows = _Rows(text)
    columns = {
        "symbol": "Symbol",
        "side": "Side",
        "quantity": "Filled",
        "price": "Avg Price",
        "executed_at": "Filled Time",
    }
    checked = False
    for line, row in rows:
        if not checked:
            checked = True
            if not _require(
                rows, errors, ("Symbol", "Side", "Status", "Filled", "Avg Price", "Filled Time")
            ):
                return
        out.rows += 1
        before = errors.total
        status = row.get("Status", "").lower()
        filled_text = row.get("Filled", "")
        if status in (
            "cancelled",
            "canceled",
            "failed",
            "rejected",
            "pending",
            "working",
        ) or filled_text in ("", "0"):
            out.skipped += 1
            continue
        side_text = row.get("Side", "").lower()
        side = (
            "buy"
            if side_text.startswith("buy")
            else "sell"
            if side_text.startswith(("sell", "short"))
            else None
        )
        if side is None:
            errors.add(line, "Side", f"{row.get('Side')!r} is not Buy, Sell or Short")
            continue
        fields: dict[str, object] = {
            "broker_account": broker_account or "webull",
            "symbol": row.get("Symbol"),
            "side": side,
            "quantity": errors.cell(line, row, "Filled", _number),
            "price": errors.cell(line, row, "Avg Price", _number),
            "executed_at": errors.cell(line, row, "Filled Time", _webull_time),
        }
        item = _validated(errors, line, fields, columns, before)
        if item is not None:
            out.executions.append(item)


def _parse_generic(text: str, broker_account: str | None, out: Parsed, errors: _Collector) -> None:
    rows = _Rows(text)
    columns = {name: name for name in GENERIC_COLUMNS}
    checked = False
    for line, row in rows:
        if not checked:
            checked = True
            unknown = [name for name in rows.header if name not in GENERIC_COLUMNS]
            for name in unknown:
                errors.add(
                    1, name, f"unknown column; the template has {', '.join(GENERIC_COLUMNS)}"
                )
            if unknown or not _require(
                rows, errors, ("symbol", "side", "quantity", "price", "executed_at")
            ):
                return
        out.rows += 1
        before = errors.total
        fields: dict[str, object] = {
            name: value for name, value in row.items() if value != "" and name in GENERIC_COLUMNS
        }
        fields.setdefault("broker_account", broker_account or "default")
        if isinstance(fields.get("side"), str):
            fields["side"] = str(fields["side"]).lower()
        item = _validated(errors, line, fields, columns, before)
        if item is not None:
            out.executions.append(item)


def parse(request: ImportRequest) -> Parsed:
    """Every execution of the file, or `ImportRejected` naming every bad row."""
    errors = _Collector()
    out = Parsed()
    if request.format == "ibkr_flex":
        _parse_ibkr(request.content, request.broker_account, request.tz, out, errors)
    elif request.format == "webull":
        _parse_webull(request.content, request.broker_account, out, errors)
    else:
        _parse_generic(request.content, request.broker_account, out, errors)
    if out.rows > MAX_IMPORT_ROWS:
        raise PayloadTooLarge(f"the file has {out.rows} rows; at most {MAX_IMPORT_ROWS} per file")
    if errors.total:
        raise ImportRejected(errors.errors, errors.total)
    if out.rows == 0:
        raise InvalidInput("the file has no data rows")
    seen: Counter[str] = Counter()
    for item in out.executions:
        if item.external_id:
            key = f"{item.broker_account}|ext|{item.external_id}"
        else:
            base = item.content_key()
            seen[base] += 1
            key = f"{base}#{seen[base]}"
        out.ids.append("x-" + hashlib.sha256(f"import|{key}".encode()).hexdigest()[:24])
    return out


def import_file(
    journal: Journal, request: ImportRequest, progress: Callable[[int], None] | None = None
) -> ImportResult:
    """Parse and store a file; all-or-nothing on bad rows, idempotent on re-import."""
    parsed = parse(request)
    import_id = (
        "i-" + hashlib.sha256(f"{request.format}|{request.content}".encode()).hexdigest()[:24]
    )
    result = journal.add(
        parsed.executions, "import", import_id=import_id, ids=parsed.ids, progress=progress
    )
    summary = ImportResult(
        import_id=import_id,
        format=request.format,
        filename=request.filename,
        rows=parsed.rows,
        executions=len(parsed.executions),
        added=result.added,
        duplicates=result.duplicates,
        skipped=parsed.skipped,
        broker_accounts=sorted({e.broker_account for e in parsed.executions}),
        currencies=dict(Counter(e.currency for e in parsed.executions)),
        imported_at=datetime.now(UTC),
    )
    journal.record_import(summary.model_dump(mode="json", by_alias=True))
    return summary
