"""Paper trading: accounts with starting cash, orders matched against the latest quotes."""

from shared.paper.broker import InsufficientFunds, NoFreshQuote, PaperBroker
from shared.paper.idempotency import Claim, IdempotencyStore, StoredResponse
from shared.paper.models import (
    MatchReport,
    Order,
    OrderIn,
    PaperAccount,
    PaperAccountIn,
    Position,
)

__all__ = [
    "Claim",
    "IdempotencyStore",
    "InsufficientFunds",
    "MatchReport",
    "NoFreshQuote",
    "Order",
    "OrderIn",
    "PaperAccount",
    "PaperAccountIn",
    "PaperBroker",
    "Position",
    "StoredResponse",
]
