"""Durable instance state (history, inbox, outstanding work) persisted as one JSON file each."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

Instance = dict[str, Any]


class InstanceStore:
    """One JSON file per orchestration instance under `root`, replaced atomically on save."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, instance_id: str) -> Path:
        return self.root / (quote(instance_id, safe="") + ".json")

    def save(self, instance: Instance) -> None:
        path = self._path(instance["instanceId"])
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(instance, handle, separators=(",", ":"))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, instance_id: str) -> Instance | None:
        try:
            return json.loads(self._path(instance_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def delete(self, instance_id: str) -> bool:
        try:
            self._path(instance_id).unlink()
        except FileNotFoundError:
            return False
        return True

    def ids(self) -> Iterator[str]:
        for path in sorted(self.root.glob("*.json")):
            if not path.name.startswith(".tmp-"):
                yield unquote(path.name[: -len(".json")])

    def all(self) -> Iterator[Instance]:
        for instance_id in self.ids():
            instance = self.load(instance_id)
            if instance is not None:
                yield instance
