"""Journal models: executions (what a trader did), trades (derived from them) and the
annotations a trader adds to a trade."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from shared.api_model import ApiModel

Side = Literal["buy", "sell"]
TradeSide = Literal["long", "short"]
Source = Literal["paper", "import", "manual"]

MAX_QTY = 1e9
MAX_PRICE = 1e9
MAX_NOTES = 20_000
MAX_TAGS = 20
MAX_LABEL = 50

_SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9.\-/ :^_]{0,39}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_LABEL = re.compile(r"^[\w .:/+#-]{1,50}$")


def _symbol(value: str) -> str:
    text = " ".join(value.strip().upper().split())
    if not _SYMBOL.match(text):
        raise ValueError(
            f"symbol {value!r} is not 1-40 characters of letters, digits and . - / : ^ _ or space"
        )
    return text


def _label(value: str) -> str:
    text = value.strip()
    if not _LABEL.match(text):
        raise ValueError(f"{value!r} is not 1-50 letters, digits, spaces or . : / + # - _")
    return text


Symbol = Annotated[str, AfterValidator(_symbol)]
Label = Annotated[str, AfterValidator(_label)]
BrokerAccount = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[\w.:@-]+$")]


class ExecutionIn(ApiModel):
    """One fill as a client, an importer or the paper broker states it."""

    broker_account: BrokerAccount = Field("default", description="The broker account it is in.")
    symbol: Symbol
    side: Side
    quantity: float = Field(gt=0, le=MAX_QTY, allow_inf_nan=False)
    price: float = Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)
    fees: float = Field(0.0, ge=0, le=MAX_PRICE, allow_inf_nan=False, description="Positive cost.")
    executed_at: datetime = Field(description="When it filled; an offset is required.")
    currency: str = Field("USD", description="ISO 4217 code the price and fees are in.")
    fx_rate: float = Field(
        1.0,
        gt=0,
        le=1e6,
        allow_inf_nan=False,
        description="Base-currency (USD) units per unit of `currency`, as the source states.",
    )
    multiplier: float = Field(1.0, gt=0, le=1e6, allow_inf_nan=False)
    external_id: str | None = Field(
        None, max_length=128, description="The broker's execution id, when it has one."
    )

    @field_validator("executed_at", mode="before")
    @classmethod
    def _aware(cls, value: object) -> object:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        if isinstance(parsed, datetime) and parsed.tzinfo is None:
            raise ValueError("executedAt needs a time zone offset (e.g. 2024-03-01T15:30:00-05:00)")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        text = value.strip().upper()
        if not _CURRENCY.match(text):
            raise ValueError(f"currency {value!r} is not a 3-letter ISO 4217 code")
        return text

    def content_key(self) -> str:
        """What identifies this fill when the source gives no execution id."""
        parts = (
            self.broker_account,
            self.symbol,
            self.side,
            repr(self.quantity),
            repr(self.price),
            repr(self.fees),
            self.executed_at.isoformat(),
            self.currency,
        )
        return "|".join(parts)

    def execution_id(self, source: Source) -> str:
        """A stable id: the same fill from the same source always gets the same id, so
        writing it twice stores it once."""
        key = (
            f"{self.broker_account}|ext|{self.external_id}"
            if self.external_id
            else self.content_key()
        )
        return "x-" + hashlib.sha256(f"{source}|{key}".encode()).hexdigest()[:24]


class Execution(ExecutionIn):
    """A stored execution."""

    id: str
    account: str = Field(description="The owner's account id.")
    source: Source
    created_at: datetime
    updated_at: datetime | None = None
    import_id: str | None = Field(None, description="The import that brought it, if any.")
    etag: str = ""


class Trade(ApiModel):
    """A round trip on one broker account and symbol: from flat to flat (open while not flat)."""

    id: str
    account: str
    broker_account: str
    symbol: str
    side: TradeSide
    status: Literal["open", "closed"]
    opened_at: datetime
    closed_at: datetime | None
    quantity: float = Field(description="Units entered (the sum of the opening fills).")
    exit_quantity: float = Field(description="Units closed so far.")
    entry_price: float = Field(description="Average entry price.")
    exit_price: float | None = Field(description="Average exit price; null before any exit.")
    gross_pnl: float = Field(description="Realized P&L before fees, in `currency`.")
    fees: float
    net_pnl: float
    capital: float = Field(description="Largest cost basis held during the trade.")
    return_on_capital: float | None = Field(description="netPnl / capital.")
    holding_seconds: float | None
    currency: str
    fx_rate: float = Field(description="Conversion of the closing fill: base units per `currency`.")
    net_pnl_base: float = Field(description="netPnl converted at fxRate.")
    multiplier: float
    max_position: float = Field(description="Largest absolute position during the trade.")
    execution_ids: list[str]


class AnnotationIn(ApiModel):
    """What a trader writes about a trade."""

    notes: str = Field("", max_length=MAX_NOTES, description="Markdown.")
    tags: list[Label] = Field(default_factory=list, max_length=MAX_TAGS)
    setup: Label | None = None
    mistakes: list[Label] = Field(default_factory=list, max_length=MAX_TAGS)
    planned_stop: float | None = Field(None, gt=0, le=MAX_PRICE, allow_inf_nan=False)
    planned_target: float | None = Field(None, gt=0, le=MAX_PRICE, allow_inf_nan=False)
    strategy_id: str | None = Field(None, max_length=64, pattern=r"^[\w.-]+$")
    strategy_version: int | None = Field(None, ge=1)

    @field_validator("tags", "mistakes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))


class Annotation(AnnotationIn):
    """A stored annotation of one trade."""

    trade_id: str
    account: str
    screenshots: list[str] = Field(default_factory=list, description="Blob names.")
    updated_at: datetime
    etag: str = ""
