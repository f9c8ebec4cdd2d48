"""Fixtures of the journal tests: in-process calls to the app's routes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shared.journal.store import forget_cache
from tests.api.conftest import call_route


@pytest.fixture
def call() -> Callable[..., Any]:
    return call_route


@pytest.fixture(autouse=True)
def fresh_snapshots() -> None:
    forget_cache()
