"""A broker account's execution terms: what its orders cost (commission, slippage) and how
the trader sizes them, stated once per (owner, broker account) and read by anything that
models the account's fills (the drift report's replay).

Stored in the journal's container (pk = owner account id, one document per broker account).
A paper account (broker account `paper-<id>`, as `shared.journal.paper` records its fills)
states its own terms where nothing is stored: its starting cash, the paper broker's slippage
(`PAPER_SLIPPAGE_BPS`) and no commission (the paper broker charges none). Stored terms win
over the paper account's; fields left unset fall through to the next source.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import Field, TypeAdapter, ValidationError

from shared.api_model import ApiModel
from shared.auth.caller import Caller
from shared.config import get_settings
from shared.errors import InvalidInput, NotFound
from shared.journal.models import BrokerAccount
from shared.journal.store import CONTAINER
from shared.paper.broker import PaperBroker
from shared.storage.documents import (
    Document,
    DocumentNotFound,
    DocumentStore,
    Filter,
    content,
)

KIND = "broker_account"
PAPER_PREFIX = "paper-"

TermSource = Literal["brokerAccount", "paperAccount"]
_NAME: TypeAdapter[str] = TypeAdapter(BrokerAccount)


def check_name(value: str) -> str:
    """A broker account name from a path; `InvalidInput` naming the rule otherwise."""
    try:
        return _NAME.validate_python(value)
    except ValidationError:
        raise InvalidInput(
            f"broker account {value[:80]!r} is not 1-64 letters, digits and _ . : @ -"
        ) from None


class BrokerAccountTermsIn(ApiModel):
    """What a broker account's orders cost and how they are sized; unset fields are unknown
    (a replay keeps its defaults, or the request's values, for them)."""

    cash: float | None = Field(
        None, gt=0, le=1e12, allow_inf_nan=False, description="Capital the account trades."
    )
    commission: float | None = Field(
        None, ge=0, lt=0.5, allow_inf_nan=False, description="Rate of traded value per order."
    )
    commission_fixed: float | None = Field(
        None, ge=0, le=1e6, allow_inf_nan=False, description="Fixed amount per order."
    )
    slippage_bps: float | None = Field(
        None, ge=0, lt=10_000, allow_inf_nan=False, description="Adverse fill move, bps."
    )
    sizing: Literal["all_cash_units", "fractional", "fixed_fraction"] | None = Field(
        None, description="How entries are sized (as a backtest's `execution.sizing`)."
    )
    fraction: float | None = Field(
        None, gt=0, le=1, allow_inf_nan=False, description="Equity share per entry."
    )


class BrokerAccountTerms(BrokerAccountTermsIn):
    """A broker account's stored terms."""

    broker_account: str
    updated_at: datetime | None = None


TERM_FIELDS = tuple(BrokerAccountTermsIn.model_fields)


def _doc_id(broker_account: str) -> str:
    return f"broker-account:{broker_account}"


def stored_terms(docs: DocumentStore, account: str, broker_account: str) -> BrokerAccountTerms:
    """The terms stored for one broker account (all unset when none are)."""
    try:
        doc = docs.read(CONTAINER, _doc_id(broker_account), account)
    except DocumentNotFound:
        return BrokerAccountTerms(broker_account=broker_account)
    fields = {k: v for k, v in content(doc).items() if k not in ("id", "pk", "kind")}
    return BrokerAccountTerms.model_validate(fields)


def save_terms(
    docs: DocumentStore, account: str, broker_account: str, terms: BrokerAccountTermsIn
) -> BrokerAccountTerms:
    """Replace a broker account's terms (idempotent: the same body twice stores it once)."""
    try:
        docs.read(CONTAINER, _doc_id(broker_account), account)
    except DocumentNotFound:
        limit = get_settings().broker_account_terms_per_account
        stated = docs.query(CONTAINER, account, [Filter("kind", "=", KIND)], limit=limit)
        if len(stated.items) >= limit:
            raise InvalidInput(
                f"a journal may state terms for at most {limit} broker accounts "
                "(BROKER_ACCOUNT_TERMS_PER_ACCOUNT); replace an existing account's terms instead"
            ) from None
    saved = BrokerAccountTerms(
        broker_account=broker_account, updated_at=datetime.now(UTC), **terms.model_dump()
    )
    doc: Document = {
        "id": _doc_id(broker_account),
        "pk": account,
        "kind": KIND,
        **saved.model_dump(mode="json"),
    }
    docs.upsert(CONTAINER, doc)
    return saved


def paper_terms(docs: DocumentStore, account: str, broker_account: str) -> BrokerAccountTermsIn:
    """The terms a paper broker account implies (all unset for any other broker account, or
    a paper account of someone else or that no longer exists). The paper account is read
    through the paper broker, the owner of its stored shape."""
    if not broker_account.startswith(PAPER_PREFIX):
        return BrokerAccountTermsIn()
    settings = get_settings()
    owner = Caller(account, frozenset({"viewer"}))
    try:
        paper = PaperBroker(docs, settings).get_account(owner, broker_account[len(PAPER_PREFIX) :])
    except NotFound:
        return BrokerAccountTermsIn()
    return BrokerAccountTermsIn(
        cash=paper.starting_cash,
        commission=0.0,
        commission_fixed=0.0,
        slippage_bps=settings.paper_slippage_bps,
    )


def account_terms(
    docs: DocumentStore, account: str, broker_account: str
) -> dict[str, tuple[object, TermSource]]:
    """Each known term of a broker account with where it came from: the stored terms first,
    then a paper account's own."""
    found: dict[str, tuple[object, TermSource]] = {}
    sources: tuple[tuple[BrokerAccountTermsIn, TermSource], ...] = (
        (stored_terms(docs, account, broker_account), "brokerAccount"),
        (paper_terms(docs, account, broker_account), "paperAccount"),
    )
    for terms, source in sources:
        for name in TERM_FIELDS:
            value = getattr(terms, name)
            if value is not None and name not in found:
                found[name] = (value, source)
    return found


__all__ = [
    "TERM_FIELDS",
    "BrokerAccountTerms",
    "BrokerAccountTermsIn",
    "account_terms",
    "check_name",
    "paper_terms",
    "save_terms",
    "stored_terms",
]
