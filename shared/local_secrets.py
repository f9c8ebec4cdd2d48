"""Per-install secrets of the local stand-ins (the blob-URL signing key, the Web PubSub access
key): random, generated on first use under LOCAL_DATA_DIR, mode 0600, shared by every process
of the install, like the dev issuer's key. Never used in Azure, where the services hold keys."""

from __future__ import annotations

import os
import secrets
import threading
import uuid
from pathlib import Path

SECRET_BYTES = 32

_lock = threading.Lock()


def _create(path: Path) -> None:
    """Write a fresh secret to `path` (0600) unless another process got there first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_urlsafe(SECRET_BYTES).encode())
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic: the first writer wins, the others read its secret
    except FileExistsError:
        pass
    finally:
        tmp.unlink()


def install_secret(path: Path) -> str:
    """The secret kept in `path`, generated on first use."""
    with _lock:
        if not path.exists():
            _create(path)
        secret = path.read_text().strip()
    if len(secret) < 16:
        raise ValueError(f"{path} holds no usable secret; delete it to generate a new one")
    return secret
