"""History events and orchestrator actions as the Durable extension exchanges them with the SDK."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any


class EventType(IntEnum):
    """DTFx `EventType` values the local host writes."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16
    EXECUTION_SUSPENDED = 20
    EXECUTION_RESUMED = 21


class ActionType(IntEnum):
    """The SDK's `ActionType` values."""

    CALL_ACTIVITY = 0
    CALL_ACTIVITY_WITH_RETRY = 1
    CALL_SUB_ORCHESTRATOR = 2
    CALL_SUB_ORCHESTRATOR_WITH_RETRY = 3
    CONTINUE_AS_NEW = 4
    CREATE_TIMER = 5
    WAIT_FOR_EXTERNAL_EVENT = 6
    CALL_ENTITY = 7
    CALL_HTTP = 8
    SIGNAL_ENTITY = 9
    WHEN_ANY = 11
    WHEN_ALL = 12


ACTIVITY_ACTIONS = frozenset({ActionType.CALL_ACTIVITY, ActionType.CALL_ACTIVITY_WITH_RETRY})
SUB_ORCHESTRATION_ACTIONS = frozenset(
    {ActionType.CALL_SUB_ORCHESTRATOR, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
)
RETRY_ACTIONS = frozenset(
    {ActionType.CALL_ACTIVITY_WITH_RETRY, ActionType.CALL_SUB_ORCHESTRATOR_WITH_RETRY}
)
SUPPORTED_ACTIONS = frozenset(
    ACTIVITY_ACTIONS
    | SUB_ORCHESTRATION_ACTIONS
    | {ActionType.CREATE_TIMER, ActionType.WAIT_FOR_EXTERNAL_EVENT, ActionType.CONTINUE_AS_NEW}
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO-8601 in UTC with a `Z`, microseconds included (the SDK compares these)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def event(
    kind: EventType, timestamp: datetime | None = None, event_id: int = -1, **fields: Any
) -> dict[str, Any]:
    """One history event with the fields every event carries."""
    return {
        "EventType": int(kind),
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": iso(timestamp or utc_now()),
        **fields,
    }


@dataclass(frozen=True)
class Leaf:
    """One scheduling action of the orchestrator, compound actions (WhenAll/WhenAny) flattened."""

    action: dict[str, Any]

    @property
    def type(self) -> ActionType:
        return ActionType(int(self.action["actionType"]))

    @property
    def name(self) -> str:
        if self.type == ActionType.WAIT_FOR_EXTERNAL_EVENT:
            return str(self.action.get("externalEventName", ""))
        if self.type == ActionType.CREATE_TIMER:
            return "timer"
        return str(self.action.get("functionName", ""))

    @property
    def takes_id(self) -> bool:
        """Every task but an external-event wait takes the next sequence number."""
        return self.type != ActionType.WAIT_FOR_EXTERNAL_EVENT

    def signature(self) -> str:
        return f"{self.type.name}({self.name!r})"


def flatten(actions: list[Any]) -> list[Leaf]:
    """The leaf actions of an orchestrator state's `actions`, depth first, in scheduling order.

    Accepts schema V1 (a list per yield) and V2+ (`[[all actions]]`) alike.
    """
    leaves: list[Leaf] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for child in item:
                walk(child)
            return
        kind = int(item["actionType"])
        if kind in (ActionType.WHEN_ALL, ActionType.WHEN_ANY):
            walk(item.get("compoundActions") or [])
            return
        leaves.append(Leaf(item))

    walk(actions)
    return leaves
