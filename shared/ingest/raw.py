"""The raw archive: every provider response body as it came, gzip'd, in the `raw` container."""

from __future__ import annotations

import json
import re

from shared.errors import Conflict
from shared.providers.http import RawResponse, gzip_bytes
from shared.storage.blob import BlobStore

_UNSAFE = re.compile(r"[^A-Za-z0-9.^_-]+")
SUBJECT_KEYS = ("symbol", "ticker", "ids", "market", "interval", "vs_currency", "days", "range")


def raw_name(response: RawResponse) -> str:
    """`{provider}/{yyyy}/{mm}/{dd}/{what}/{subject}-{status}-{sha16}.json.gz`: equal bodies
    on the same day share one blob, so re-runs do not pile up copies."""
    day = response.received_at
    subject = (
        "_".join(
            _UNSAFE.sub("-", response.params[key])
            for key in SUBJECT_KEYS
            if response.params.get(key)
        )
        or "all"
    )
    return (
        f"{response.provider}/{day:%Y/%m/%d}/{response.what}/"
        f"{subject[:120]}-{response.status}-{response.digest}.json.gz"
    )


class RawArchive:
    """A `RawSink` writing to a `BlobStore`; an identical body already archived is kept."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs
        self.written = 0
        self.bytes = 0

    def __call__(self, response: RawResponse) -> None:
        name = raw_name(response)
        data = gzip_bytes(response.body)
        metadata = {
            "provider": response.provider,
            "status": str(response.status),
            "received_at": response.received_at.isoformat(),
            "params": json.dumps(response.params, sort_keys=True)[:1000],
        }
        try:
            self.blobs.put(
                name, data, metadata=metadata, content_type="application/gzip", overwrite=False
            )
        except Conflict:
            return
        self.written += 1
        self.bytes += len(data)
