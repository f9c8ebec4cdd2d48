"""Fixtures of the journal tests (`call` and `store` come from tests/conftest.py)."""

from __future__ import annotations

import pytest

from shared.journal.store import forget_cache


@pytest.fixture(autouse=True)
def fresh_snapshots() -> None:
    forget_cache()
