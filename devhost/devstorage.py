"""`GET /devstorage/{container}/{name}`: signed reads of the embedded blob store."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from shared.errors import DomainError

log = logging.getLogger("devhost.devstorage")

CHUNK = 256 * 1024


async def serve_signed_blob(request: web.Request) -> web.StreamResponse:
    """Stream a blob whose signed URL `shared.storage.blob_local` issued; 403/404 otherwise."""
    from shared.storage.blob_local import read_signed

    container = request.match_info["container"]
    name = request.match_info["name"]
    try:
        stream, info = await asyncio.to_thread(
            read_signed,
            container,
            name,
            request.query.get("se", ""),
            request.query.get("sig", ""),
        )
    except DomainError as error:
        return web.json_response(
            {"title": error.title, "status": error.status, "detail": error.detail},
            status=error.status,
            content_type="application/problem+json",
        )
    try:
        response = web.StreamResponse(
            headers={
                "Content-Type": info.content_type or "application/octet-stream",
                "Content-Length": str(info.size),
                "ETag": f'"{info.etag.strip(chr(34))}"',
                "Cache-Control": "private, no-store",
            }
        )
        await response.prepare(request)
        if request.method != "HEAD":
            while chunk := await asyncio.to_thread(stream.read, CHUNK):
                await response.write(chunk)
        await response.write_eof()
        return response
    finally:
        stream.close()
