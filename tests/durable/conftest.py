"""Fixtures for the local durable host tests: an engine over the sample app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from devhost.durable.engine import DurableEngine

SAMPLE_APP = "tests.durable.apps.sample_app:app"


@pytest.fixture
async def engine(isolated_settings: Path) -> AsyncIterator[DurableEngine]:
    """An engine running activities in threads (workers=0) over a fresh data dir."""
    durable = DurableEngine(app_ref=SAMPLE_APP, data_dir=isolated_settings, workers=0)
    await durable.start()
    yield durable
    await durable.stop()
