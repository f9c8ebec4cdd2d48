"""A local stand-in for Azure Web PubSub: the REST calls the service SDK makes and the
client websocket the client SDKs and browsers use, with the service's JWT checks.

REST (each needs `Authorization: Bearer <HS256 JWT>` signed with the AccessKey, `aud` =
the full request URL, `exp` in the future; otherwise 401):

- `POST /api/hubs/{hub}/:send`, `/groups/{group}/:send`, `/users/{user}/:send` → 202
- `POST /api/hubs/{hub}/connections/{id}/:send` → 202; `DELETE .../connections/{id}` → 204
- `PUT /api/hubs/{hub}/groups/{group}/connections/{id}` → 200 (404 unknown connection),
  `DELETE` → 204; `PUT /api/hubs/{hub}/users/{user}/groups/{group}` → 200, `DELETE` → 204
- `DELETE /api/hubs/{hub}/connections/{id}/groups`, `/users/{user}/groups` → 204
- `HEAD|GET /api/hubs/{hub}/connections/{id}`, `/groups/{group}`, `/users/{user}` → 200 / 404
- `POST /api/hubs/{hub}/:closeConnections` (and per group / user) → 204

Client websocket: `GET /client/hubs/{hub}?access_token=<jwt>` (`aud` = `http(s)://host/client/hubs/
{hub}`), subprotocols `json.webpubsub.azure.v1` and `json.reliable.webpubsub.azure.v1` (echoed):
a `connected` system frame, joinGroup / leaveGroup (allowed by the token's
`webpubsub.joinLeaveGroup[.<group>]` roles, else a Forbidden ack), sendToGroup (roles
`webpubsub.sendToGroup[.<group>]`), event, acks, sequence ids on the reliable protocol and
recovery with `awps_connection_id` / `awps_reconnection_token`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt
from aiohttp import WSMsgType, web

log = logging.getLogger("devhost.webpubsub")

JSON_PROTOCOL = "json.webpubsub.azure.v1"
RELIABLE_PROTOCOL = "json.reliable.webpubsub.azure.v1"
OUTBOX_LIMIT = 10_000
ACKED_LIMIT = 10_000
RECOVERY_SECONDS = 30.0
_BACKGROUND: set[asyncio.Future[Any]] = set()


def _normalize_url(url: str) -> str:
    parts = urlsplit(url)
    query = "&".join(sorted(unquote(parts.query).split("&"))) if parts.query else ""
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{unquote(parts.path)}?{query}"


class TokenRejectedError(Exception):
    """A token failed the service's checks; the message says which."""


def verify_token(token: str, key: str, audience: str, *, prefix_ok: bool = False) -> dict[str, Any]:
    """Claims of an HS256 token signed with `key` whose `aud` is `audience` (URL-normalized)
    and whose `exp` has not passed; `TokenRejectedError` otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=["HS256"],
            options={"verify_aud": False, "require": ["exp"]},
            leeway=0,
        )
    except jwt.ExpiredSignatureError:
        raise TokenRejectedError("token expired") from None
    except jwt.InvalidSignatureError:
        raise TokenRejectedError("token signature does not match the access key") from None
    except jwt.PyJWTError as error:
        raise TokenRejectedError(f"invalid token: {error}") from None
    aud = claims.get("aud")
    if not isinstance(aud, str) or _normalize_url(aud) != _normalize_url(audience):
        raise TokenRejectedError(f"audience {aud!r} does not match {audience!r}")
    return claims


@dataclass(eq=False)
class ClientConnection:
    """One client websocket (or a recoverable one whose socket just dropped)."""

    id: str
    hub: str
    user_id: str | None
    roles: frozenset[str]
    protocol: str | None
    reconnection_token: str
    groups: set[str] = field(default_factory=set)
    ws: web.WebSocketResponse | None = None
    outbox: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(OUTBOX_LIMIT))
    sequence_id: int = 0
    detached_at: float | None = None
    acked: dict[int, None] = field(default_factory=dict)
    """Ack ids already processed (the newest ACKED_LIMIT): a resend gets a Duplicate ack."""

    @property
    def reliable(self) -> bool:
        return self.protocol == RELIABLE_PROTOCOL

    @property
    def reachable(self) -> bool:
        """Connected, or a reliable connection awaiting recovery (messages wait for it)."""
        return self.ws is not None or (self.reliable and self.detached_at is not None)

    def may(self, action: str, group: str) -> bool:
        return f"webpubsub.{action}" in self.roles or f"webpubsub.{action}.{group}" in self.roles

    def deliver(self, frame_head: str, frame_tail: str = "}") -> None:
        """Queue `frame_head` + (sequenceId on the reliable protocol) + `frame_tail`."""
        if self.reliable:
            self.sequence_id += 1
            text = f'{frame_head},"sequenceId":{self.sequence_id}{frame_tail}'
        else:
            text = frame_head + frame_tail
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            log.warning("connection %s is too slow; dropping it", self.id)
            if self.ws is not None:
                task = asyncio.ensure_future(self.ws.close(code=1011, message=b"slow consumer"))
                _BACKGROUND.add(task)
                task.add_done_callback(_BACKGROUND.discard)


@dataclass
class Hub:
    connections: dict[str, ClientConnection] = field(default_factory=dict)
    groups: dict[str, set[str]] = field(default_factory=dict)
    user_groups: dict[str, set[str]] = field(default_factory=dict)

    def join(self, connection: ClientConnection, group: str) -> None:
        connection.groups.add(group)
        self.groups.setdefault(group, set()).add(connection.id)

    def leave(self, connection: ClientConnection, group: str) -> None:
        connection.groups.discard(group)
        members = self.groups.get(group)
        if members is not None:
            members.discard(connection.id)
            if not members:
                del self.groups[group]

    def remove(self, connection: ClientConnection) -> None:
        for group in list(connection.groups):
            self.leave(connection, group)
        self.connections.pop(connection.id, None)

    def of_user(self, user: str) -> list[ClientConnection]:
        return [c for c in self.connections.values() if c.user_id == user]


def _data_frame(body: bytes, content_type: str) -> str:
    """`"dataType":...,"data":...` of a message body sent with `content_type`."""
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        text = body.decode("utf-8")
        json.loads(text)
        return f'"dataType":"json","data":{text}'
    if kind.startswith("text/"):
        return '"dataType":"text","data":' + json.dumps(body.decode("utf-8"))
    return '"dataType":"binary","data":"' + base64.b64encode(body).decode() + '"'


class WebPubSubStandIn:
    """The stand-in's state and its aiohttp routes (add them with `add_routes`)."""

    def __init__(self, access_key: str) -> None:
        self.access_key = access_key
        self.hubs: dict[str, Hub] = {}
        self.rest_calls = 0
        self._writers: set[asyncio.Task[None]] = set()
        self._verified: dict[tuple[str, str], float] = {}

    def hub(self, name: str) -> Hub:
        return self.hubs.setdefault(name, Hub())

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/hubs/{hub}/:send", self._send_all)
        r.add_post("/api/hubs/{hub}/groups/{group}/:send", self._send_group)
        r.add_post("/api/hubs/{hub}/users/{user}/:send", self._send_user)
        r.add_put("/api/hubs/{hub}/groups/{group}/connections/{connection}", self._add_conn)
        r.add_delete("/api/hubs/{hub}/groups/{group}/connections/{connection}", self._remove_conn)
        r.add_put("/api/hubs/{hub}/users/{user}/groups/{group}", self._add_user)
        r.add_delete("/api/hubs/{hub}/users/{user}/groups/{group}", self._remove_user)
        r.add_post("/api/hubs/{hub}/connections/{connection}/:send", self._send_connection)
        r.add_delete("/api/hubs/{hub}/connections/{connection}", self._close_connection)
        r.add_delete("/api/hubs/{hub}/connections/{connection}/groups", self._leave_all)
        r.add_delete("/api/hubs/{hub}/users/{user}/groups", self._leave_all)
        r.add_get("/api/hubs/{hub}/connections/{connection}", self._exists_connection)
        r.add_get("/api/hubs/{hub}/groups/{group}", self._exists_group)
        r.add_get("/api/hubs/{hub}/users/{user}", self._exists_user)
        r.add_post("/api/hubs/{hub}/:closeConnections", self._close_all)
        r.add_post("/api/hubs/{hub}/groups/{group}/:closeConnections", self._close_group)
        r.add_post("/api/hubs/{hub}/users/{user}/:closeConnections", self._close_user)
        r.add_get("/client/hubs/{hub}", self._client)

    # --- REST -------------------------------------------------------------------------------
    def _authorize(self, request: web.Request) -> web.Response | None:
        self.rest_calls += 1
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return _unauthorized("missing bearer token")
        token, url = header[len("Bearer ") :], str(request.url)
        expires = self._verified.get((token, url))
        if expires is not None and expires > time.time():
            return None
        try:
            claims = verify_token(token, self.access_key, url)
        except TokenRejectedError as error:
            return _unauthorized(str(error))
        if len(self._verified) > 10_000:
            self._verified.clear()
        self._verified[(token, url)] = float(claims["exp"])
        return None

    async def _broadcast(
        self, request: web.Request, targets: Iterable[ClientConnection], source: str
    ) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        body = await request.read()
        excluded = set(request.query.getall("excluded", []))
        recipients = [c for c in targets if c.id not in excluded and c.reachable]
        if not recipients:
            return web.Response(status=202)
        try:
            data = _data_frame(body, request.headers.get("Content-Type", "text/plain"))
        except (ValueError, UnicodeDecodeError) as error:
            return web.json_response({"code": "InvalidBody", "message": str(error)}, status=400)
        head = f'{{"type":"message","from":{source},{data}'
        for connection in recipients:
            connection.deliver(head)
        return web.Response(status=202)

    async def _send_all(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        return await self._broadcast(request, list(hub.connections.values()), '"server"')

    async def _send_group(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        group = request.match_info["group"]
        members = [hub.connections[c] for c in hub.groups.get(group, ()) if c in hub.connections]
        return await self._broadcast(request, members, f'"group","group":{json.dumps(group)}')

    async def _send_user(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        return await self._broadcast(request, hub.of_user(request.match_info["user"]), '"server"')

    async def _send_connection(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        found = hub.connections.get(request.match_info["connection"])
        return await self._broadcast(request, [found] if found else [], '"server"')

    async def _close_connection(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        found = hub.connections.get(request.match_info["connection"])
        return await self._close(request, [found] if found else [])

    async def _leave_all(self, request: web.Request) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        hub = self.hub(request.match_info["hub"])
        if "connection" in request.match_info:
            found = hub.connections.get(request.match_info["connection"])
            targets = [found] if found else []
        else:
            hub.user_groups.pop(request.match_info["user"], None)
            targets = hub.of_user(request.match_info["user"])
        for connection in targets:
            for group in list(connection.groups):
                hub.leave(connection, group)
        return web.Response(status=204)

    async def _membership(self, request: web.Request, add: bool) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        hub = self.hub(request.match_info["hub"])
        group = request.match_info["group"]
        if "connection" in request.match_info:
            connection = hub.connections.get(request.match_info["connection"])
            if connection is None:
                return web.json_response({"code": "NotFound"}, status=404)
            targets = [connection]
        else:
            user = request.match_info["user"]
            members = hub.user_groups.setdefault(user, set())
            (members.add if add else members.discard)(group)
            targets = hub.of_user(user)
        for connection in targets:
            (hub.join if add else hub.leave)(connection, group)
        return web.Response(status=200 if add else 204)

    async def _add_conn(self, request: web.Request) -> web.Response:
        return await self._membership(request, add=True)

    async def _remove_conn(self, request: web.Request) -> web.Response:
        return await self._membership(request, add=False)

    async def _add_user(self, request: web.Request) -> web.Response:
        return await self._membership(request, add=True)

    async def _remove_user(self, request: web.Request) -> web.Response:
        return await self._membership(request, add=False)

    async def _exists(self, request: web.Request, found: bool) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        return web.Response(status=200 if found else 404)

    async def _exists_connection(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        return await self._exists(request, request.match_info["connection"] in hub.connections)

    async def _exists_group(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        return await self._exists(request, bool(hub.groups.get(request.match_info["group"])))

    async def _exists_user(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        return await self._exists(request, bool(hub.of_user(request.match_info["user"])))

    async def _close(self, request: web.Request, targets: list[ClientConnection]) -> web.Response:
        denied = self._authorize(request)
        if denied is not None:
            return denied
        reason = request.query.get("reason", "Connection closed by server")
        excluded = set(request.query.getall("excluded", []))
        for connection in targets:
            if connection.id not in excluded:
                await self._disconnect(connection, reason)
        return web.Response(status=204)

    async def _close_all(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        return await self._close(request, list(hub.connections.values()))

    async def _close_group(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        ids = hub.groups.get(request.match_info["group"], set())
        return await self._close(request, [hub.connections[c] for c in ids])

    async def _close_user(self, request: web.Request) -> web.Response:
        hub = self.hub(request.match_info["hub"])
        return await self._close(request, hub.of_user(request.match_info["user"]))

    async def _disconnect(self, connection: ClientConnection, reason: str) -> None:
        self.hub(connection.hub).remove(connection)
        ws = connection.ws
        connection.ws = None
        if ws is not None and not ws.closed:
            frame = {"type": "system", "event": "disconnected", "message": reason}
            with contextlib.suppress(Exception):
                await ws.send_str(json.dumps(frame))
                await ws.close(code=1008, message=reason.encode()[:120])

    # --- client websocket -----------------------------------------------------------------
    async def _client(self, request: web.Request) -> web.StreamResponse:
        hub_name = request.match_info["hub"]
        hub = self.hub(hub_name)
        token = request.query.get("access_token", "")
        audience = f"{request.scheme}://{request.host}/client/hubs/{hub_name}"
        try:
            claims = verify_token(token, self.access_key, audience)
        except TokenRejectedError as error:
            return _unauthorized(str(error))
        ws = web.WebSocketResponse(protocols=(JSON_PROTOCOL, RELIABLE_PROTOCOL), heartbeat=None)
        await ws.prepare(request)
        connection = self._recover(hub, request, ws)
        recovered = connection is not None
        if not recovered and "awps_connection_id" in request.query:
            await ws.close(code=1008, message=b"invalid recovery")
            return ws
        if connection is None:
            roles = claims.get("role") or []
            connection = ClientConnection(
                id=uuid.uuid4().hex,
                hub=hub_name,
                user_id=claims.get("sub"),
                roles=frozenset(roles if isinstance(roles, list) else [roles]),
                protocol=ws.ws_protocol,
                reconnection_token=uuid.uuid4().hex,
                ws=ws,
            )
            hub.connections[connection.id] = connection
            for group in claims.get("webpubsub.group") or []:
                hub.join(connection, group)
            if connection.user_id:
                for group in hub.user_groups.get(connection.user_id, ()):
                    hub.join(connection, group)
        writer = asyncio.create_task(self._write(connection, ws))
        self._writers.add(writer)
        writer.add_done_callback(self._writers.discard)
        if ws.ws_protocol and not recovered:
            connected: dict[str, Any] = {
                "type": "system",
                "event": "connected",
                "userId": connection.user_id,
                "connectionId": connection.id,
            }
            if connection.reliable:
                connected["reconnectionToken"] = connection.reconnection_token
            await ws.send_str(json.dumps(connected))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT and ws.ws_protocol:
                    await self._on_frame(hub, connection, ws, msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            writer.cancel()
            if connection.ws is ws:
                connection.ws = None
                if connection.reliable and connection.id in hub.connections:
                    connection.detached_at = time.monotonic()
                    asyncio.get_running_loop().call_later(
                        RECOVERY_SECONDS, self._expire, hub, connection
                    )
                else:
                    hub.remove(connection)
        return ws

    def _recover(
        self, hub: Hub, request: web.Request, ws: web.WebSocketResponse
    ) -> ClientConnection | None:
        connection_id = request.query.get("awps_connection_id")
        if not connection_id:
            return None
        connection = hub.connections.get(connection_id)
        token = request.query.get("awps_reconnection_token")
        if connection is None or connection.reconnection_token != token or connection.ws:
            return None
        connection.ws = ws
        connection.detached_at = None
        return connection

    def _expire(self, hub: Hub, connection: ClientConnection) -> None:
        if connection.ws is None and connection.detached_at is not None:
            hub.remove(connection)

    async def _write(self, connection: ClientConnection, ws: web.WebSocketResponse) -> None:
        outbox = connection.outbox
        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                text = await outbox.get()
                await ws.send_str(text)

    async def _on_frame(
        self, hub: Hub, connection: ClientConnection, ws: web.WebSocketResponse, text: str
    ) -> None:
        try:
            frame = json.loads(text)
            kind = frame["type"]
        except (ValueError, KeyError, TypeError):
            log.info("connection %s sent an invalid frame; ignored", connection.id)
            return
        ack_id = frame.get("ackId")
        error: tuple[str, str] | None = None
        if kind == "sequenceAck":
            return
        if isinstance(ack_id, int) and ack_id in connection.acked:
            # The service's answer to a resent ackId (a client retrying after a reconnect):
            # not processed again; the SDK treats it as delivered.
            duplicate = {
                "type": "ack",
                "ackId": ack_id,
                "success": False,
                "error": {
                    "name": "Duplicate",
                    "message": f"Message with ack-id: {ack_id} has been processed",
                },
            }
            await ws.send_str(json.dumps(duplicate))
            return
        if kind in ("joinGroup", "leaveGroup"):
            group = str(frame.get("group", ""))
            if not group:
                error = ("InvalidRequest", "group is required")
            elif not connection.may("joinLeaveGroup", group):
                error = ("Forbidden", f"no permission to join or leave group {group}")
            elif kind == "joinGroup":
                hub.join(connection, group)
            else:
                hub.leave(connection, group)
        elif kind == "sendToGroup":
            group = str(frame.get("group", ""))
            if not connection.may("sendToGroup", group):
                error = ("Forbidden", f"no permission to send to group {group}")
            else:
                data = json.dumps(frame.get("data"))
                head = (
                    f'{{"type":"message","from":"group","group":{json.dumps(group)},'
                    f'"dataType":{json.dumps(frame.get("dataType", "json"))},"data":{data}'
                )
                if connection.user_id:
                    head += f',"fromUserId":{json.dumps(connection.user_id)}'
                for member_id in list(hub.groups.get(group, ())):
                    member = hub.connections.get(member_id)
                    if member is None or not member.reachable:
                        continue
                    if frame.get("noEcho") and member is connection:
                        continue
                    member.deliver(head)
        elif kind == "event":
            log.info("event %s from %s (no upstream locally)", frame.get("event"), connection.id)
        else:
            log.info("unknown frame type %r from %s; ignored", kind, connection.id)
            return
        if ack_id is not None:
            if error is None and isinstance(ack_id, int):
                connection.acked[ack_id] = None
                while len(connection.acked) > ACKED_LIMIT:
                    del connection.acked[next(iter(connection.acked))]
            ack: dict[str, Any] = {"type": "ack", "ackId": ack_id, "success": error is None}
            if error is not None:
                ack["error"] = {"name": error[0], "message": error[1]}
            await ws.send_str(json.dumps(ack))


def _unauthorized(reason: str) -> web.Response:
    return web.json_response({"code": "Unauthorized", "message": reason}, status=401)


class StandInServer:
    """The stand-in alone on 127.0.0.1 (tests and benchmarks); `port=0` picks a free port."""

    def __init__(self, access_key: str, port: int = 0) -> None:
        self.standin = WebPubSubStandIn(access_key)
        self.port = port
        self._runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def connection_string(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={self.standin.access_key};Version=1.0;"

    async def start(self) -> StandInServer:
        app = web.Application()
        self.standin.add_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        if self.port == 0 and server is not None:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def _serve_forever(access_key: str, port: int) -> None:
    server = await StandInServer(access_key, port).start()
    print(f"web pubsub stand-in listening on {server.endpoint}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    """`python -m devhost.webpubsub.standin --key K [--port P]`: the stand-in alone."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--key", required=True, help="the AccessKey tokens are signed with")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = free)")
    arguments = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(arguments.key, arguments.port))


if __name__ == "__main__":
    main()
