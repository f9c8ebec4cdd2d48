"""Which symbols a run spends its calls on: the stalest first, within the day's budget."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timedelta

from croniter import croniter

from shared.market.symbols import Symbol
from shared.storage.documents import Document

INVALID_RETRY = timedelta(hours=24)


def runs_left_today(schedule: str, as_of: datetime) -> int:
    """Occurrences of the six-field NCRONTAB `schedule` from `as_of` (inclusive) to midnight."""
    midnight = (as_of + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    it = croniter(schedule, as_of - timedelta(microseconds=1), second_at_beginning=True)
    count = 0
    while count < 100_000:
        nxt: datetime = it.get_next(datetime)
        if nxt >= midnight:
            break
        count += 1
    return max(count, 1)


def run_allowance(day_left: int, minute_left: int, runs_left: int) -> int:
    """Calls this run may spend: an even share of what is left today, at most a minute's."""
    if day_left <= 0 or minute_left <= 0:
        return 0
    return min(minute_left, math.ceil(day_left / max(runs_left, 1)))


def _parse(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def stalest_first(
    symbols: list[Symbol],
    states: Mapping[str, Document],
    as_of: datetime,
    *,
    refresh: timedelta,
    limit: int,
) -> list[Symbol]:
    """Up to `limit` symbols due for a sync, never-synced first, then the oldest success;
    ties keep the order of `symbols` (the fair order of `tracked_symbols`).

    A symbol synced less than `refresh` ago is not due; one the provider called invalid is
    retried only after a day.
    """
    due: list[tuple[str, str, Symbol]] = []
    for symbol in symbols:
        state = states.get(symbol.text)
        last_success = _parse(state.get("lastSuccess")) if state else None
        if last_success is not None and as_of - last_success < refresh:
            continue
        if state and state.get("lastErrorKind") == "invalid_symbol":
            error_at = _parse(state.get("lastErrorAt"))
            if error_at is not None and as_of - error_at < INVALID_RETRY:
                continue
        due.append(
            (
                last_success.isoformat() if last_success else "",
                str(state.get("lastBar") or "") if state else "",
                symbol,
            )
        )
    due.sort(key=lambda item: (item[0], item[1]))  # stable: ties keep the given (fair) order
    return [symbol for _, _, symbol in due[: max(limit, 0)]]
