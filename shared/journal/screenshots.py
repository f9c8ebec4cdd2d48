"""Trade screenshots: a short-lived, single-use upload URL, then a signed read URL.

`POST .../screenshots` checks the declared type and size and answers an upload URL naming
a random upload slot (a document with a TTL: it expires by itself after
`UPLOAD_SECONDS`). `PUT` to that URL with the image bytes is accepted only while the slot
exists, only once, only with the declared content type, only up to the declared size and
only if the bytes are that image type (magic numbers); the image lands in the lake
container under `journal/<account>/screenshots/` and is added to the trade's annotation.
Reading gives a signed blob URL that expires after `READ_SECONDS`.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal
from urllib.parse import quote

from pydantic import Field

from shared.api_model import ApiModel
from shared.errors import Conflict, DomainError, InvalidInput
from shared.journal.imports import PayloadTooLarge
from shared.journal.models import AnnotationIn
from shared.journal.store import CONTAINER, Journal, annotation_document
from shared.storage.documents import Document, DocumentNotFound

ImageType = Literal["image/png", "image/jpeg", "image/webp"]
MAX_SCREENSHOT_BYTES = 5 * 1024 * 1024
MAX_SCREENSHOTS_PER_TRADE = 10
UPLOAD_SECONDS = 300
READ_SECONDS = 600
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


class ScreenshotIn(ApiModel):
    """The image about to be uploaded."""

    content_type: ImageType
    size: int = Field(ge=1, le=MAX_SCREENSHOT_BYTES, description="Bytes (at most 5 MiB).")


class UploadSlot(ApiModel):
    upload_url: str = Field(description="PUT the image bytes here, once, before expiresAt.")
    method: Literal["PUT"] = "PUT"
    content_type: ImageType
    max_bytes: int
    expires_at: datetime


class Screenshot(ApiModel):
    name: str
    trade_id: str


class ScreenshotUrl(ApiModel):
    url: str
    expires_at: datetime


def _magic_ok(content_type: str, data: bytes) -> bool:
    if content_type == "image/png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if content_type == "image/jpeg":
        return data.startswith(b"\xff\xd8\xff")
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def open_upload(journal: Journal, trade_id: str, data: ScreenshotIn, base_url: str) -> UploadSlot:
    """An upload slot for a screenshot of a trade the journal has."""
    if journal.frame().row_of(trade_id) is None:
        raise DocumentNotFound(f"trade {trade_id!r} not found")
    note = journal.annotations([trade_id]).get(trade_id)
    if note is not None and len(note.screenshots) >= MAX_SCREENSHOTS_PER_TRADE:
        raise Conflict(f"trade {trade_id!r} has {MAX_SCREENSHOTS_PER_TRADE} screenshots already")
    slot = "u-" + secrets.token_hex(24)
    expires = datetime.now(UTC) + timedelta(seconds=UPLOAD_SECONDS)
    journal.docs.create(
        CONTAINER,
        {
            "id": slot,
            "pk": journal.account,
            "kind": "upload",
            "tradeId": trade_id,
            "contentType": data.content_type,
            "size": data.size,
            "expiresAt": expires.isoformat(),
            "ttl": UPLOAD_SECONDS,
        },
    )
    return UploadSlot(
        upload_url=f"{base_url}/api/journal/uploads/{quote(journal.account, safe='')}/{slot}",
        content_type=data.content_type,
        max_bytes=data.size,
        expires_at=expires,
    )


def receive_upload(journal: Journal, slot: str, content_type: str, body: bytes) -> Screenshot:
    """Store the bytes of an open upload slot (once) and attach them to the trade."""
    if journal.blobs is None:
        raise InvalidInput("this journal has no blob store")
    try:
        doc = journal.docs.read(CONTAINER, slot, journal.account)
    except DocumentNotFound:
        raise DocumentNotFound("upload URL unknown, used or expired") from None
    if doc.get("kind") != "upload" or datetime.fromisoformat(doc["expiresAt"]) < datetime.now(UTC):
        raise DocumentNotFound("upload URL unknown, used or expired")
    if content_type.split(";")[0].strip().lower() != doc["contentType"]:
        raise UnsupportedMediaType(
            f"Content-Type {content_type!r} is not the declared {doc['contentType']}"
        )
    if len(body) > doc["size"]:
        raise PayloadTooLarge(f"{len(body)} bytes; the upload declared {doc['size']}")
    if not body or not _magic_ok(doc["contentType"], body):
        raise UnsupportedMediaType(f"the bytes are not a {doc['contentType']} image")
    if not journal.docs.delete(CONTAINER, slot, journal.account):
        raise DocumentNotFound("upload URL unknown, used or expired")
    trade_id = doc["tradeId"]
    name = (
        f"journal/{journal.account}/screenshots/{trade_id}/{slot}.{EXTENSIONS[doc['contentType']]}"
    )
    journal.blobs.put(name, body, content_type=doc["contentType"])
    _attach(journal, trade_id, name)
    return Screenshot(name=name, trade_id=trade_id)


def _attach(journal: Journal, trade_id: str, name: str) -> None:
    """Add screenshot `name` to the trade's annotation (an empty one if it has none yet)."""
    doc_id = f"a-{trade_id}"
    now = datetime.now(UTC).isoformat()

    def add(current: Document) -> Document:
        if "kind" not in current:  # no annotation yet
            return annotation_document(journal.account, trade_id, AnnotationIn(), [name], now)
        return {
            **current,
            "screenshots": [*current.get("screenshots", []), name],
            "updatedAt": now,
        }

    journal.docs.update(
        CONTAINER, doc_id, journal.account, add, default={"id": doc_id, "pk": journal.account}
    )


def read_url(journal: Journal, trade_id: str, index: int) -> ScreenshotUrl:
    """A signed URL of a trade's `index`-th screenshot (0-based)."""
    note = journal.annotations([trade_id]).get(trade_id)
    if note is None or not 0 <= index < len(note.screenshots) or journal.blobs is None:
        raise DocumentNotFound(f"trade {trade_id!r} has no screenshot {index}")
    expires = datetime.now(UTC) + timedelta(seconds=READ_SECONDS)
    url = journal.blobs.signed_url(note.screenshots[index], timedelta(seconds=READ_SECONDS))
    return ScreenshotUrl(url=url, expires_at=expires)
