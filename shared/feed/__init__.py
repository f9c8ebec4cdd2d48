"""The live feed: trades, Web PubSub group naming, and the batching publisher."""

from shared.feed.groups import ALL_TICKS_GROUP, from_finnhub, group_for, join_role, to_finnhub
from shared.feed.publisher import TickPublisher
from shared.feed.senders import GroupSender, RestSender, WebPubSubSender
from shared.feed.trades import (
    FinnhubMessage,
    MalformedMessageError,
    Trade,
    TradeSequencer,
    parse_finnhub,
)

__all__ = [
    "ALL_TICKS_GROUP",
    "FinnhubMessage",
    "GroupSender",
    "MalformedMessageError",
    "RestSender",
    "TickPublisher",
    "Trade",
    "TradeSequencer",
    "WebPubSubSender",
    "from_finnhub",
    "group_for",
    "join_role",
    "parse_finnhub",
    "to_finnhub",
]
