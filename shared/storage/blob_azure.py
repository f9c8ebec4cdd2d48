"""The Azure Blob Storage `BlobStore` (azure-storage-blob); also runs against Azurite.

Built from a connection string (Azurite or an account key) or from an account URL with
`DefaultAzureCredential` (managed identity in Azure). The container is created on first
use. Signed URLs are read-only SAS: account-key SAS with a key, user-delegation SAS with a
credential. Errors map to `BlobNotFound`, `Conflict` and `Unavailable`. An identity that may
not create containers (403) relies on `bicep/` having provisioned them.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TypeVar

from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.storage.blob import (
    BlobProperties,
    BlobSasPermissions,
    BlobServiceClient,
    ContainerClient,
    ContentSettings,
    LinearRetry,
    UserDelegationKey,
    generate_blob_sas,
)

from shared.config import Settings
from shared.errors import Conflict, InvalidInput, PreconditionFailed, Unavailable
from shared.storage.blob import BlobInfo, BlobNotFound, BlobStore
from shared.storage.blob_local import validate_container, validate_metadata, validate_name

T = TypeVar("T")
DEFAULT_CONTENT_TYPE = "application/octet-stream"


def _client_options(*, probe: bool) -> dict[str, Any]:
    """Short timeouts and few quick retries (the SDK default backs off for minutes)."""
    if probe:
        retry = LinearRetry(backoff=1, random_jitter_range=0, retry_total=0)
        return {"connection_timeout": 2, "read_timeout": 3, "retry_policy": retry}
    retry = LinearRetry(backoff=1, random_jitter_range=1, retry_total=3)
    return {"connection_timeout": 5, "read_timeout": 60, "retry_policy": retry}


def _service_client(settings: Settings, options: dict[str, Any]) -> BlobServiceClient:
    if settings.azure_storage_connection_string:
        return BlobServiceClient.from_connection_string(
            settings.azure_storage_connection_string, **options
        )
    if settings.azure_storage_account_url:
        from azure.identity import DefaultAzureCredential

        return BlobServiceClient(
            settings.azure_storage_account_url, credential=DefaultAzureCredential(), **options
        )
    raise Unavailable("set AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_ACCOUNT_URL")


def _info(props: BlobProperties) -> BlobInfo:
    content = props.content_settings
    return BlobInfo(
        name=props.name,
        size=int(props.size or 0),
        etag=str(props.etag),
        last_modified=props.last_modified,
        content_type=(content.content_type if content else None) or DEFAULT_CONTENT_TYPE,
        metadata=dict(props.metadata or {}),
    )


class _DownloadStream(io.RawIOBase):
    """A readable stream over a blob download's chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        view = memoryview(target).cast("B")
        size = min(len(view), len(self._buffer))
        view[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class AzureBlobStore(BlobStore):
    """One Blob Storage container."""

    remote = True

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        *,
        probe: BlobServiceClient | None = None,
    ) -> None:
        self.container = validate_container(container)
        self.service = service
        self.client: ContainerClient = service.get_container_client(container)
        self._probe = (probe or service).get_container_client(container)
        self._ready = False
        self._lock = threading.Lock()
        self._delegation: tuple[UserDelegationKey, datetime] | None = None

    def __repr__(self) -> str:
        return f"AzureBlobStore({self.client.url!r})"

    @classmethod
    def from_settings(cls, container: str, settings: Settings) -> AzureBlobStore:
        try:
            service = _service_client(settings, _client_options(probe=False))
            probe = _service_client(settings, _client_options(probe=True))
        except ValueError as error:
            raise Unavailable(f"blob storage settings are not usable: {error}") from None
        return cls(service, container, probe=probe)

    # --- plumbing ----------------------------------------------------------------------------
    def _call(self, action: Callable[[], T], name: str) -> T:
        try:
            return action()
        except ResourceNotFoundError:
            raise BlobNotFound(f"blob {name!r} not found in {self.container!r}") from None
        except ResourceExistsError:
            raise Conflict(f"blob {name!r} already exists in {self.container!r}") from None
        except ClientAuthenticationError as error:
            raise Unavailable(f"blob storage refused the credentials: {error.reason}") from None
        except HttpResponseError as error:
            if error.status_code == 412:
                raise PreconditionFailed(f"blob {name!r} was changed by someone else") from None
            if error.status_code in (400, 413):
                raise InvalidInput(f"blob {name!r}: {error.reason}") from None
            raise Unavailable(f"blob storage: {error.status_code} {error.reason}") from None
        except AzureError as error:
            raise Unavailable(f"blob storage cannot be reached: {error}") from None

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            try:
                self.client.create_container()
            except ResourceExistsError:
                pass
            except HttpResponseError as error:
                if error.status_code != 403:
                    raise Unavailable(f"blob storage cannot be reached: {error.reason}") from None
            except AzureError as error:
                raise Unavailable(f"blob storage cannot be reached: {error}") from None
            self._ready = True

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
        validate_name(name)
        meta = validate_metadata(metadata or {})
        self._ensure()
        blob = self.client.get_blob_client(name)
        settings = ContentSettings(content_type=content_type or DEFAULT_CONTENT_TYPE)

        conditions: dict[str, Any] = {}
        if if_match is not None:
            conditions = {"etag": if_match, "match_condition": MatchConditions.IfNotModified}

        def upload() -> BlobInfo:
            written = blob.upload_blob(
                data,
                overwrite=overwrite or if_match is not None,
                metadata=meta,
                content_settings=settings,
                max_concurrency=2,
                **conditions,
            )
            props = blob.get_blob_properties()
            if props.etag == written["etag"]:
                return _info(props)
            return BlobInfo(
                name=name,
                size=len(data) if isinstance(data, bytes | bytearray) else int(props.size or 0),
                etag=str(written["etag"]),
                last_modified=written["last_modified"],
                content_type=settings.content_type,
                metadata=meta,
            )

        return self._call(upload, name)

    def get(self, name: str) -> bytes:
        validate_name(name)
        blob = self.client.get_blob_client(name)
        return self._call(lambda: blob.download_blob().readall(), name)

    def open(self, name: str) -> BinaryIO:
        validate_name(name)
        blob = self.client.get_blob_client(name)
        downloader = self._call(lambda: blob.download_blob(), name)

        def chunks() -> Iterator[bytes]:
            try:
                yield from downloader.chunks()
            except AzureError as error:
                raise Unavailable(f"blob storage stream of {name!r} broke: {error}") from None

        return io.BufferedReader(_DownloadStream(chunks()), buffer_size=1024 * 1024)

    def exists(self, name: str) -> bool:
        validate_name(name)
        blob = self.client.get_blob_client(name)
        return self._call(lambda: bool(blob.exists()), name)

    def info(self, name: str) -> BlobInfo:
        validate_name(name)
        blob = self.client.get_blob_client(name)
        return self._call(lambda: _info(blob.get_blob_properties()), name)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        pages = self.client.list_blobs(name_starts_with=prefix or None, include=["metadata"])
        iterator = iter(pages)
        while True:
            try:
                props = next(iterator)
            except StopIteration:
                return
            except ResourceNotFoundError:
                return
            except AzureError as error:
                raise Unavailable(f"blob storage cannot be listed: {error}") from None
            yield _info(props)

    def delete(self, name: str) -> bool:
        validate_name(name)
        blob = self.client.get_blob_client(name)
        try:
            self._call(lambda: blob.delete_blob(delete_snapshots="include"), name)
        except BlobNotFound:
            return False
        return True

    def set_metadata(self, name: str, metadata: dict[str, str]) -> None:
        validate_name(name)
        meta = validate_metadata(metadata)
        blob = self.client.get_blob_client(name)
        self._call(lambda: blob.set_blob_metadata(meta), name)

    def _user_delegation_key(self, expiry: datetime) -> UserDelegationKey:
        cached = self._delegation
        if cached is not None and cached[1] >= expiry:
            return cached[0]
        start = datetime.now(UTC) - timedelta(minutes=5)
        key_expiry = max(expiry, datetime.now(UTC) + timedelta(hours=1))
        key = self._call(lambda: self.service.get_user_delegation_key(start, key_expiry), "")
        self._delegation = (key, key_expiry)
        return key

    def signed_url(self, name: str, expires_in: timedelta) -> str:
        validate_name(name)
        expiry = datetime.now(UTC) + expires_in
        blob = self.client.get_blob_client(name)
        account = self.service.account_name
        key = getattr(self.service.credential, "account_key", None)
        options: dict[str, Any] = {
            "account_name": account,
            "container_name": self.container,
            "blob_name": name,
            "permission": BlobSasPermissions(read=True),
            "expiry": expiry,
            "start": datetime.now(UTC) - timedelta(minutes=5),
        }
        if key:
            options["account_key"] = key
        else:
            options["user_delegation_key"] = self._user_delegation_key(expiry)
        return f"{blob.url}?{generate_blob_sas(**options)}"

    def ping(self) -> None:
        def probe() -> None:
            try:
                self._probe.get_container_properties()
            except ResourceNotFoundError:
                return

        self._call(probe, "")
