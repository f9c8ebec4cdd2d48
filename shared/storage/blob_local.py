"""The embedded `BlobStore`: one folder per container, atomic file writes, HMAC-signed URLs.

Layout under `root` (the factory uses `LOCAL_DATA_DIR/blobs`):

    <root>/<container>/<name>               the blob's bytes, exactly as written
    <root>/.meta/<container>/<name>.json    etag, content type, metadata (sidecar, bound to the
                                        data file's inode and size; a stale one is ignored)
    <root>/.tmp/                            temp files, renamed into place (same filesystem)
    <root>/.locks/<container>.lock          serialises the data+sidecar swap across processes

Signed URLs, for the devhost (which serves `GET /devstorage/{container}/{name}`)::

    {public_base_url}/devstorage/{container}/{quoted name}?se=<unix expiry>&sig=<hex hmac>

`sig` is HMAC-SHA256 over `"{container}/{name}\\n{se}"` keyed with `LOCAL_SIGNING_KEY`, else
with this install's own random key (`LOCAL_DATA_DIR/local-signing.key`, made on first run: no
public constant signs anything).
The devhost route calls `read_signed(container, name, se, sig)`, which checks the signature
(`Forbidden`, 403, if it is bad or expired) and returns an open stream plus the `BlobInfo`
(content type, size, etag) to put in the response; `BlobNotFound` maps to 404.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, BinaryIO
from urllib.parse import quote

from shared.config import Settings, get_settings
from shared.errors import Conflict, Forbidden, InvalidInput, PreconditionFailed, Unavailable
from shared.storage.blob import BlobInfo, BlobNotFound, BlobStore

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

CONTAINER_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){2,62}$")
METADATA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_NAME = 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def validate_container(container: str) -> str:
    """Azure's container naming rule (3-63 chars, lower-case letters, digits, single '-')."""
    if not CONTAINER_NAME.match(container):
        raise InvalidInput(
            f"container name {container!r} is invalid: use 3-63 lower-case letters, digits "
            "and single hyphens"
        )
    return container


def validate_name(name: str) -> str:
    """A blob name: '/'-separated segments, none empty, '.' or '..', no backslash or NUL."""
    if not name or len(name) > MAX_NAME:
        raise InvalidInput(f"blob name must be 1-{MAX_NAME} characters")
    if name.startswith("/") or "\\" in name or "\x00" in name:
        raise InvalidInput(f"blob name {name!r} must be relative, without '\\' or NUL")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidInput(f"blob name {name!r} has an empty, '.' or '..' segment")
    return name


def validate_metadata(metadata: dict[str, str]) -> dict[str, str]:
    """Metadata keys must be identifiers and values printable ASCII (as in Azure)."""
    for key, value in metadata.items():
        if not METADATA_KEY.match(key):
            raise InvalidInput(f"metadata key {key!r} must be a C identifier")
        if not isinstance(value, str) or not value.isascii() or not value.isprintable():
            raise InvalidInput(f"metadata value of {key!r} must be printable ASCII text")
    return dict(metadata)


def sign(signing_key: str, container: str, name: str, se: int) -> str:
    """The hex HMAC-SHA256 signature of a local signed URL."""
    message = f"{container}/{name}\n{se}".encode()
    return hmac.new(signing_key.encode(), message, hashlib.sha256).hexdigest()


def verify_signed_url(
    signing_key: str,
    container: str,
    name: str,
    se: str | int,
    sig: str,
    *,
    now: float | None = None,
) -> None:
    """Raise `Forbidden` unless `sig` signs (container, name, se) and `se` is still ahead."""
    try:
        expiry = int(se)
    except (TypeError, ValueError):
        raise Forbidden("signed URL has no valid 'se' expiry") from None
    expected = sign(signing_key, container, name, expiry)
    if not hmac.compare_digest(expected, str(sig)):
        raise Forbidden("signed URL signature does not match")
    if expiry <= (time.time() if now is None else now):
        raise Forbidden("signed URL has expired")


def read_signed(
    container: str, name: str, se: str | int, sig: str, *, settings: Settings | None = None
) -> tuple[BinaryIO, BlobInfo]:
    """Serve a `/devstorage/{container}/{name}?se=..&sig=..` request (for the devhost).

    Returns an open stream (caller closes it) and the blob's info. Raises `Forbidden` (403)
    for a bad or expired signature, `BlobNotFound` (404), `InvalidInput` (422) for a bad name.
    """
    settings = settings or get_settings()
    verify_signed_url(settings.blob_signing_key, container, name, se, sig)
    store = LocalBlobStore(
        settings.local_data_dir / "blobs",
        validate_container(container),
        signing_key=settings.blob_signing_key,
        public_base_url=settings.public_base_url,
    )
    stream = store.open(name)
    try:
        return stream, store.info(name)
    except BaseException:
        stream.close()
        raise


class LocalBlobStore(BlobStore):
    """Blobs as files under `root/container`; see the module docstring for the layout."""

    def __init__(
        self, root: Path, container: str, *, signing_key: str, public_base_url: str
    ) -> None:
        self.root = Path(root)
        self.container = validate_container(container)
        self.signing_key = signing_key
        self.public_base_url = public_base_url.rstrip("/")
        self._data = self.root / container
        self._meta = self.root / ".meta" / container
        self._tmp = self.root / ".tmp"
        self._lock_path = self.root / ".locks" / f"{container}.lock"

    def __repr__(self) -> str:
        return f"LocalBlobStore({str(self._data)!r})"

    # --- paths and locking -------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self._data / validate_name(name)

    def _meta_path(self, name: str) -> Path:
        return self._meta / f"{validate_name(name)}.json"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self._lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+b") as handle:
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _temp_file(self) -> tuple[IO[bytes], Path]:
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, raw = tempfile.mkstemp(dir=self._tmp, prefix=f"{self.container}-")
        return os.fdopen(fd, "wb"), Path(raw)

    def _write_temp(self, data: bytes | BinaryIO) -> Path:
        handle, path = self._temp_file()
        try:
            with handle:
                if isinstance(data, bytes | bytearray | memoryview):
                    handle.write(data)
                else:
                    shutil.copyfileobj(data, handle, 1024 * 1024)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    def _write_sidecar(self, name: str, content_type: str | None, metadata: dict[str, str]) -> None:
        target = self._meta_path(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        stat = self._path(name).stat()
        sidecar = {
            "etag": f'"{uuid.uuid4().hex}"',
            "content_type": content_type,
            "metadata": metadata,
            "ino": stat.st_ino,
            "size": stat.st_size,
        }
        body = json.dumps(sidecar, sort_keys=True)
        temp = self._write_temp(body.encode())
        os.replace(temp, target)

    def _read_sidecar(self, name: str) -> dict[str, object]:
        try:
            loaded = json.loads(self._meta_path(name).read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return loaded if isinstance(loaded, dict) else {}

    def _check_namespace(self, name: str) -> None:
        path = self._path(name)
        if path.is_dir():
            raise Conflict(f"blob name {name!r} is a folder prefix of other blobs here")
        for parent in path.relative_to(self._data).parents:
            if str(parent) != "." and (self._data / parent).is_file():
                raise Conflict(f"blob name {name!r} lies under the blob {parent.as_posix()!r}")

    def _check_etag(self, name: str, if_match: str) -> None:
        try:
            current = self._info_unlocked(name).etag
        except BlobNotFound:
            raise PreconditionFailed(f"blob {name!r} is gone (if_match given)") from None
        if current != if_match:
            raise PreconditionFailed(f"blob {name!r} was changed by someone else; re-read it")

    def _prune_dirs(self, start: Path, stop: Path) -> None:
        current = start
        while current != stop and stop in current.parents:
            try:
                current.rmdir()
            except OSError:
                return
            current = current.parent

    # --- the port ------------------------------------------------------------------------
    def put(
        self,
        name: str,
        data: bytes | BinaryIO,
        *,
        metadata: dict[str, str] | None = None,
        content_type: str | None = None,
        overwrite: bool = True,
        if_match: str | None = None,
    ) -> BlobInfo:
        target = self._path(name)
        meta = validate_metadata(metadata or {})
        temp = self._write_temp(data)
        try:
            with self._locked():
                self._check_namespace(name)
                if if_match is not None:
                    self._check_etag(name, if_match)
                target.parent.mkdir(parents=True, exist_ok=True)
                if overwrite:
                    os.replace(temp, target)
                else:
                    try:
                        os.link(temp, target)
                    except FileExistsError:
                        raise Conflict(f"blob {name!r} already exists") from None
                self._write_sidecar(name, content_type or DEFAULT_CONTENT_TYPE, meta)
                return self._info_unlocked(name)
        finally:
            temp.unlink(missing_ok=True)

    def get(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(f"blob {name!r} not found in {self.container!r}") from None

    def open(self, name: str) -> BinaryIO:
        path = self._path(name)
        if not path.is_file():
            raise BlobNotFound(f"blob {name!r} not found in {self.container!r}")
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise BlobNotFound(f"blob {name!r} not found in {self.container!r}") from None

    def exists(self, name: str) -> bool:
        return self._path(name).is_file()

    def _info_unlocked(self, name: str) -> BlobInfo:
        try:
            stat = self._path(name).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(f"blob {name!r} not found in {self.container!r}") from None
        if not os.path.isfile(self._path(name)):
            raise BlobNotFound(f"blob {name!r} not found in {self.container!r}")
        sidecar = self._read_sidecar(name)
        if sidecar.get("ino") != stat.st_ino or sidecar.get("size") != stat.st_size:
            sidecar = {"etag": f'"{stat.st_ino:x}-{stat.st_mtime_ns:x}-{stat.st_size:x}"'}
        content_type = sidecar.get("content_type")
        metadata = sidecar.get("metadata")
        return BlobInfo(
            name=name,
            size=stat.st_size,
            etag=str(sidecar["etag"]),
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            content_type=content_type if isinstance(content_type, str) else DEFAULT_CONTENT_TYPE,
            metadata=dict(metadata) if isinstance(metadata, dict) else {},
        )

    def info(self, name: str) -> BlobInfo:
        validate_name(name)
        with self._locked():
            return self._info_unlocked(name)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        if not self._data.is_dir():
            return
        folder, _, _ = prefix.rpartition("/")
        start = self._data / folder if folder else self._data
        if folder and (".." in folder.split("/") or folder.startswith("/")):
            raise InvalidInput(f"prefix {prefix!r} must be relative without '..'")
        names: list[str] = []
        for dirpath, _dirs, files in os.walk(start):
            base = Path(dirpath).relative_to(self._data).as_posix()
            for file in files:
                name = file if base == "." else f"{base}/{file}"
                if name.startswith(prefix):
                    names.append(name)
        for name in sorted(names):
            try:
                yield self._info_unlocked(name)
            except BlobNotFound:
                continue

    def delete(self, name: str) -> bool:
        target = self._path(name)
        with self._locked():
            try:
                if not target.is_file():
                    return False
                target.unlink()
            except FileNotFoundError:
                return False
            self._meta_path(name).unlink(missing_ok=True)
            self._prune_dirs(target.parent, self._data)
            self._prune_dirs(self._meta_path(name).parent, self._meta)
        return True

    def set_metadata(self, name: str, metadata: dict[str, str]) -> None:
        meta = validate_metadata(metadata)
        with self._locked():
            if not self._path(name).is_file():
                raise BlobNotFound(f"blob {name!r} not found in {self.container!r}")
            content_type = self._read_sidecar(name).get("content_type")
            self._write_sidecar(name, content_type if isinstance(content_type, str) else None, meta)
            os.utime(self._path(name))

    def signed_url(self, name: str, expires_in: timedelta) -> str:
        validate_name(name)
        se = int(time.time() + expires_in.total_seconds())
        sig = sign(self.signing_key, self.container, name, se)
        return (
            f"{self.public_base_url}/devstorage/{self.container}/{quote(name, safe='/')}"
            f"?se={se}&sig={sig}"
        )

    def read_signed(self, name: str, se: str | int, sig: str) -> tuple[BinaryIO, BlobInfo]:
        """Check a signature made by `signed_url` and open the blob (see module docstring)."""
        verify_signed_url(self.signing_key, self.container, name, se, sig)
        stream = self.open(name)
        try:
            return stream, self.info(name)
        except BaseException:
            stream.close()
            raise

    def ping(self) -> None:
        try:
            self._tmp.mkdir(parents=True, exist_ok=True)
            probe = self._tmp / f"ping-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise Unavailable(f"local blob folder {self.root} is not writable: {error}") from None
