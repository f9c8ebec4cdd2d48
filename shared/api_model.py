"""Base class of every pydantic model that crosses the HTTP edge: camelCase JSON, UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from pydantic.alias_generators import to_camel

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
"""A display name: surrounding blanks stripped, 1-100 characters left."""


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
