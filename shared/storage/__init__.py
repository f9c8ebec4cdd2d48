"""Storage ports (`BlobStore`, `DocumentStore`), their adapters, and the Parquet lake."""

from shared.storage.blob import BlobInfo, BlobNotFound, BlobStore
from shared.storage.documents import (
    DocumentNotFound,
    DocumentStore,
    Filter,
    Page,
    PatchOp,
    StaleEtag,
    UpdateContended,
)

__all__ = [
    "BlobInfo",
    "BlobNotFound",
    "BlobStore",
    "DocumentNotFound",
    "DocumentStore",
    "Filter",
    "Page",
    "PatchOp",
    "StaleEtag",
    "UpdateContended",
]
