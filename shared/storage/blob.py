"""The `BlobStore` port: a flat namespace of named byte objects in one container."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import BinaryIO

from shared.errors import NotFound


class BlobNotFound(NotFound):
    """The named blob does not exist."""


@dataclass(frozen=True)
class BlobInfo:
    name: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


class BlobStore(ABC):
    """One container of blobs. Names use '/' as a virtual folder separator.

    Writes are atomic: a reader sees the old bytes or the new bytes, never a torn blob.
    """

    container: str
    remote: bool = False
    """Each read is a network round trip: readers of many blobs fetch several at once."""

    @abstractmethod
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
        """Write a blob from bytes or a readable binary stream. `overwrite=False` on an
        existing name raises `shared.errors.Conflict`. With `if_match` the write happens only
        while the blob's etag still equals it (`shared.errors.PreconditionFailed` otherwise,
        also when the blob is gone)."""

    @abstractmethod
    def get(self, name: str) -> bytes:
        """The blob's bytes; `BlobNotFound` if absent."""

    @abstractmethod
    def open(self, name: str) -> BinaryIO:
        """A readable stream of the blob (caller closes it); `BlobNotFound` if absent."""

    @abstractmethod
    def exists(self, name: str) -> bool: ...

    @abstractmethod
    def info(self, name: str) -> BlobInfo:
        """Size, etag, times, content type and metadata; `BlobNotFound` if absent."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Blobs whose name starts with `prefix`, in name order."""

    @abstractmethod
    def delete(self, name: str) -> bool:
        """Delete a blob; True if it existed."""

    @abstractmethod
    def set_metadata(self, name: str, metadata: dict[str, str]) -> None:
        """Replace the blob's metadata; `BlobNotFound` if absent."""

    @abstractmethod
    def signed_url(self, name: str, expires_in: timedelta) -> str:
        """A URL that reads the blob without credentials until it expires."""

    @abstractmethod
    def ping(self) -> None:
        """Raise `shared.errors.Unavailable` if the store cannot be reached."""

    def metadata(self, name: str) -> dict[str, str]:
        return self.info(name).metadata
