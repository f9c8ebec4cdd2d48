"""Market data vocabulary: bars, quotes, intervals and the one symbol convention."""

from shared.market.models import INTERVALS, Adjustment, Bar, Interval, Quote
from shared.market.symbols import Symbol, parse_symbol

__all__ = ["INTERVALS", "Adjustment", "Bar", "Interval", "Quote", "Symbol", "parse_symbol"]
