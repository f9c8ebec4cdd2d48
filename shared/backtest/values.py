"""Parameter values: the bounded decimal numbers every grid axis, fixed parameter and
declaration check reads (at most `MAX_NUMBER_CHARS` characters, a 3-digit exponent,
magnitude at most `MAX_MAGNITUDE`, finite; never costly to parse)."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

from shared.errors import InvalidNumber

ParamValue = int | float
GridAxis = list[ParamValue]

MAX_NUMBER_CHARS = 40
MAX_MAGNITUDE = 10**15

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d{1,3})?")
_NOT_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity|snan)", re.IGNORECASE)
NUMBER_RULE = (
    f"a decimal number of at most {MAX_NUMBER_CHARS} characters, exponent at most 3 digits, "
    f"magnitude at most 1e{round(math.log10(MAX_MAGNITUDE))}"
)


def clip(text: str) -> str:
    """`text` quoted for an error message, cut to 24 characters."""
    return repr(text if len(text) <= 24 else text[:24] + "…")


def exact(text: str, where: str) -> Fraction:
    """A short decimal text as an exact fraction, or `InvalidNumber` (never costly)."""
    t = text.strip()
    if _NOT_FINITE.fullmatch(t):
        raise InvalidNumber(f"{where}: {clip(t)} is not a finite number")
    if len(t) > MAX_NUMBER_CHARS or not _NUMBER.fullmatch(t):
        raise InvalidNumber(f"{where}: {clip(t)} is not {NUMBER_RULE}")
    value = Fraction(Decimal(t))
    if abs(value) > MAX_MAGNITUDE:
        raise InvalidNumber(f"{where}: {clip(t)} is not {NUMBER_RULE}")
    return value


def _as_param(value: Fraction) -> ParamValue:
    return int(value) if value.denominator == 1 else float(value)


def parse_number(text: str, where: str = "value") -> ParamValue:
    """`text` as an int (integral values) or float; `InvalidNumber` naming `where` if it is
    not a bounded, finite decimal."""
    return _as_param(exact(text, where))


def check_number(value: Any, where: str = "value") -> ParamValue:
    """A JSON/Python number or numeric text, bounded and finite; booleans are refused."""
    if isinstance(value, str):
        return parse_number(value, where)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidNumber(f"{where}: {value!r} is not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidNumber(f"{where}: {value!r} is not a finite number")
    if abs(value) > MAX_MAGNITUDE:
        raise InvalidNumber(f"{where}: {value!r} is not {NUMBER_RULE}")
    return value
