"""Root fixtures: every test gets its own data folder and fresh settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import get_settings


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point LOCAL_DATA_DIR at a fresh folder and drop cached settings around each test."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("LOCAL_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()
