"""The trading journal: executions from every source, the trades FIFO matching derives from
them, the trader's annotations, and the analytics over them."""

from shared.journal.matching import match, match_group
from shared.journal.models import (
    Annotation,
    AnnotationIn,
    Execution,
    ExecutionIn,
    Trade,
)

__all__ = [
    "Annotation",
    "AnnotationIn",
    "Execution",
    "ExecutionIn",
    "Trade",
    "match",
    "match_group",
]
