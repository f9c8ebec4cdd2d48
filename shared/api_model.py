"""Base class of every pydantic model that crosses the HTTP edge: camelCase JSON, UTC times."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _printable_name(value: str) -> str:
    """Refuse control characters (C0, DEL, C1), line/paragraph separators and the
    bidirectional overrides that make a name display as something else."""
    for char in value:
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS:
            raise ValueError(f"name must not contain control characters (found U+{ord(char):04X})")
    return value


Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_printable_name),
]
"""A display name: surrounding blanks stripped, 1-100 characters left, none of them a
control character (tabs and newlines included) or a bidirectional override."""


class ApiModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields rejected; every datetime
    is converted to UTC (naive ones are taken as UTC), so it serializes as ISO 8601 `...Z`."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", ser_json_inf_nan="null"
    )

    @field_validator("*", mode="after")
    @classmethod
    def _utc_datetimes(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value
