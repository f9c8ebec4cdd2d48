"""Relay throughput and latency, end to end on 127.0.0.1.

A local Finnhub-protocol server pushes trades for 50 symbols to the relay
(`python -m containerapps.relay`, a separate process); the relay publishes to the Web PubSub
stand-in, and a websocket client joined to all 50 symbol groups receives them.

1. flood: as fast as the relay reads, for --duration seconds: trades/s in (read by the relay),
   trades/s delivered to the client, and a check that the lake archive holds every trade the
   relay received (nothing lost, nothing duplicated).
2. steady: 10,000 trades/s for --steady seconds: added latency p50/p99 (trade timestamp set
   by the server when it sends, to client receipt), at the default 100 ms batch window and at
   a short one (--short-window-ms).
3. peer: batched vs one-message-per-trade publishing at the same offered rate: trades/s
   delivered, and the relay's CPU and Web PubSub messages per 1,000 trades delivered.

    .venv/bin/python bench/relay_throughput.py [--duration 30] [--steady 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import string
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from azure.messaging.webpubsubservice.aio import WebPubSubServiceClient  # noqa: E402

from devhost.webpubsub.finnhub import FinnhubServer  # noqa: E402
from devhost.webpubsub.standin import JSON_PROTOCOL  # noqa: E402
from shared.feed.groups import group_for, join_role  # noqa: E402

KEY = "bench-webpubsub-access-key-0123456789abcdef"
RUNNING: list[asyncio.subprocess.Process] = []
PROFILE: list[str] = []
ARCHIVE_FLUSH_SECONDS = [10.0]
SYMBOLS = [f"B{a}{b}" for a in string.ascii_uppercase[:2] for b in string.ascii_uppercase][:50]


@dataclass
class Receiver:
    """A json.webpubsub.azure.v1 client joined to every symbol group."""

    trades: int = 0
    conflated: int = 0
    latencies: list[float] = field(default_factory=list)
    measure: bool = False
    last_message: float = 0.0

    async def run(self, url: str, joined: asyncio.Event) -> None:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(url, protocols=(JSON_PROTOCOL,), max_msg_size=0) as ws,
        ):
            for ack_id, symbol in enumerate(SYMBOLS, 1):
                join = {"type": "joinGroup", "group": group_for(symbol), "ackId": ack_id}
                await ws.send_json(join)
            acks = 0
            async for message in ws:
                frame = json.loads(message.data)
                kind = frame.get("type")
                if kind == "ack":
                    acks += 1
                    if acks == len(SYMBOLS):
                        joined.set()
                    continue
                if kind != "message":
                    continue
                now_ms = time.time() * 1000
                self.last_message = time.monotonic()
                for batch in frame["data"]["batches"]:
                    self.conflated += batch["conflated"]
                    trades = batch["trades"]
                    self.trades += len(trades)
                    if self.measure:
                        self.latencies.extend(now_ms - t["t"] for t in trades)


class Source:
    """Builds Finnhub trade frames with unique prices and the current time."""

    def __init__(self) -> None:
        self.counter = 0

    def frame(self, per_symbol: int) -> tuple[str, int]:
        now = int(time.time() * 1000)
        parts = []
        for symbol in SYMBOLS:
            for _ in range(per_symbol):
                self.counter += 1
                price = 100 + self.counter / 10_000
                parts.append(f'{{"s":"{symbol}","p":{price},"v":1,"t":{now}}}')
        return '{"type":"trade","data":[' + ",".join(parts) + "]}", len(parts)


async def flood(server: FinnhubServer, source: Source, seconds: float) -> int:
    client = next(iter(server.clients.values()))
    sent = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        frame, count = source.frame(4)
        await client.connection.send(frame)
        sent += count
    return sent


async def steady(server: FinnhubServer, source: Source, seconds: float, rate: int) -> int:
    client = next(iter(server.clients.values()))
    per_tick = max(1, rate // 100 // len(SYMBOLS))
    sent = 0
    start = time.monotonic()
    tick = 0
    while time.monotonic() - start < seconds:
        frame, count = source.frame(per_tick)
        await client.connection.send(frame)
        sent += count
        tick += 1
        await asyncio.sleep(max(0.0, start + tick * 0.01 - time.monotonic()))
    return sent


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuShare:
    """CPU used by the relay, the stand-in and this process (Finnhub server + client)."""

    def __init__(self, relay: int, standin: int) -> None:
        self.pids = {"relay": relay, "stand-in": standin, "bench server+client": os.getpid()}
        self.start = time.monotonic()
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def report(self) -> str:
        elapsed = time.monotonic() - self.start
        shares = [
            f"{name} {100 * (cpu_seconds(pid) - self.before[name]) / elapsed:.0f}%"
            for name, pid in self.pids.items()
        ]
        return f"  CPU (100% = one of {os.cpu_count()} cores): " + ", ".join(shares)


def profile_args() -> list[str]:
    """`-m cProfile -o <file>.<n>` for the n-th relay started, if --profile was given."""
    if not PROFILE:
        return []
    started = len(RUNNING) - 1
    return ["-m", "cProfile", "-o", f"{PROFILE[0]}.{started}"]


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class RelayRun:
    process: asyncio.subprocess.Process
    http_port: int
    data_dir: Path

    async def health(self) -> dict:
        url = f"http://127.0.0.1:{self.http_port}/readyz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return await response.json()

    async def received(self) -> int:
        return int((await self.health())["archive"]["received"])

    async def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), 120)
        finally:
            if self.process.returncode is None:
                self.process.kill()
        return (self.data_dir / "relay.log").read_text()


async def start_relay(
    server: FinnhubServer, standin: StandInProcess, batch_ms: int, batching: bool
) -> RelayRun:
    data_dir = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "FINNHUB_API_KEYS": "bench",
        "FINNHUB_WS_URL": server.url,
        "WEBPUBSUB_CONNECTION_STRING": standin.connection_string(),
        "LOCAL_DATA_DIR": str(data_dir),
        "DEFAULT_SYMBOLS": ",".join(SYMBOLS),
        "RELAY_HTTP_HOST": "127.0.0.1",
        "RELAY_HTTP_PORT": str(port),
        "RELAY_BATCH_MS": str(batch_ms),
        "RELAY_BATCHING": "true" if batching else "false",
        "RELAY_ARCHIVE_FLUSH_SECONDS": str(ARCHIVE_FLUSH_SECONDS[0]),
        "RELAY_STOP_MERGE_SECONDS": "110",
        "RELAY_ID": "bench",
        "LOG_LEVEL": "INFO",
    }
    before = server.connections_total
    with (data_dir / "relay.log").open("w") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *profile_args(),
            "-m",
            "containerapps.relay",
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
        )
    RUNNING.append(process)
    while not (server.connections_total > before and len(server.subscribed()) == len(SYMBOLS)):
        if process.returncode is not None:
            raise RuntimeError("relay exited early: " + (data_dir / "relay.log").read_text())
        await asyncio.sleep(0.05)
    return RelayRun(process, port, data_dir)


async def drain(relay: RelayRun, receiver: Receiver, sent: int, limit: float = 120.0) -> float:
    """Wait until the relay has read `sent` trades and the client went quiet; return seconds."""
    start = time.monotonic()

    async def done() -> bool:
        if time.monotonic() - start > limit:
            return True
        return await relay.received() >= sent and time.monotonic() - receiver.last_message > 1.0

    while not await done():  # noqa: ASYNC110 - polls another process
        await asyncio.sleep(0.1)
    return time.monotonic() - start


def lake_rows(data_dir: Path) -> tuple[int, int]:
    from shared.storage.blob_local import LocalBlobStore
    from shared.storage.lake import ParquetLake

    blobs = LocalBlobStore(data_dir / "blobs", "lake", signing_key="x", public_base_url="x")
    lake = ParquetLake(blobs)
    table = lake.read("ticks", columns=["key"])
    return table.num_rows, len(set(table["key"].to_pylist()))


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


async def session(standin: StandInProcess, server: FinnhubServer) -> tuple[Receiver, asyncio.Task]:
    service = WebPubSubServiceClient.from_connection_string(standin.connection_string(), "ticks")
    token = await service.get_client_access_token(
        roles=[join_role(group_for(s)) for s in SYMBOLS], minutes_to_expire=30
    )
    await service.close()
    receiver = Receiver()
    joined = asyncio.Event()
    task = asyncio.create_task(receiver.run(token["url"], joined))
    await asyncio.wait_for(joined.wait(), 10)
    return receiver, task


async def measure_latency(
    standin: StandInProcess, server: FinnhubServer, batch_ms: int, seconds: float
) -> tuple[float, float, int, int]:
    receiver, task = await session(standin, server)
    relay = await start_relay(server, standin, batch_ms, batching=True)
    source = Source()
    await steady(server, source, 1.0, 10_000)
    await drain(relay, receiver, source.counter)
    receiver.measure = True
    samples: list[tuple[float, float, float]] = []

    async def sample() -> None:
        while True:
            await asyncio.sleep(0.5)
            body = await relay.health()
            publisher = body["publisher"]
            samples.append((body["lagMs"], publisher["lastLagMs"], publisher["lastSendMs"]))

    sampler = asyncio.create_task(sample())
    assert standin.process is not None
    cpu = CpuShare(relay.process.pid, standin.process.pid)
    sent = await steady(server, source, seconds, 10_000)
    sampler.cancel()
    print(cpu.report())
    if samples:
        ingest = statistics.median(s[0] for s in samples)
        publish = statistics.median(s[1] for s in samples)
        send = statistics.median(s[2] for s in samples)
        print(
            f"  relay's own view (median of samples): ingest lag {ingest:.0f} ms "
            f"(server timestamp to relay read), publish lag {publish:.0f} ms "
            f"(oldest trade of the window being sent), "
            f"window send {send:.0f} ms (all of a window's calls)"
        )
    await drain(relay, receiver, source.counter)
    await relay.stop()
    task.cancel()
    latencies = receiver.latencies
    return percentile(latencies, 50), percentile(latencies, 99), sent, receiver.conflated


class StandInProcess:
    """The Web PubSub stand-in in its own process (as the real service is not in ours)."""

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.endpoint = ""

    async def start(self) -> StandInProcess:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "devhost.webpubsub.standin",
            "--key",
            KEY,
            cwd=REPO,
            stdout=asyncio.subprocess.PIPE,
        )
        RUNNING.append(self.process)
        assert self.process.stdout is not None
        line = (await asyncio.wait_for(self.process.stdout.readline(), 60)).decode()
        self.endpoint = line.strip().rsplit(" ", 1)[-1]
        return self

    def connection_string(self) -> str:
        return f"Endpoint={self.endpoint};AccessKey={KEY};Version=1.0;"

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            await self.process.wait()


async def main(args: argparse.Namespace) -> None:
    standin = await StandInProcess().start()
    server = await FinnhubServer(api_keys=["bench"], ping_seconds=5).start()
    cores = os.cpu_count()
    print(f"relay_throughput: {len(SYMBOLS)} symbols, relay in its own process, {cores} cores")

    receiver, task = await session(standin, server)
    relay = await start_relay(server, standin, 100, batching=True)
    source = Source()
    started = time.monotonic()
    assert standin.process is not None
    cpu = CpuShare(relay.process.pid, standin.process.pid)
    sent = await flood(server, source, args.duration)
    pushed = time.monotonic() - started
    flood_cpu = cpu.report()
    tail = await drain(relay, receiver, sent)
    read_by_relay = await relay.received()
    output = await relay.stop()
    task.cancel()
    found = re.findall(r"archived=(\d+) spooled=(\d+)", output)
    archived, spooled = (int(x) for x in found[-1]) if found else (-1, -1)
    rows, unique = lake_rows(relay.data_dir)
    print(
        f"flood {args.duration:g} s: server pushed {sent} trades in {pushed:.1f} s "
        f"= {sent / pushed:,.0f} trades/s in (relay read them all: {read_by_relay == sent})"
    )
    print(
        f"  delivered to the client: {receiver.trades} trades "
        f"= {receiver.trades / (pushed + tail):,.0f} trades/s end to end; "
        f"conflated (live feed only) {receiver.conflated}"
    )
    print(flood_cpu)
    print(
        f"  archive: relay spooled {spooled}, merged {archived}, lake rows {rows}, "
        f"unique keys {unique}, lost {sent - unique}, duplicated {rows - unique}"
    )

    for window in (100, args.short_window_ms):
        measured = await measure_latency(standin, server, window, args.steady)
        p50, p99, steady_sent, conflated = measured
        print(
            f"steady 10,000 trades/s for {args.steady:g} s, batch window {window} ms: "
            f"added latency p50 {p50:.1f} ms, p99 {p99:.1f} ms "
            f"({steady_sent} trades, {conflated} conflated)"
        )

    costs = {}
    for batching in (True, False):
        receiver, task = await session(standin, server)
        relay = await start_relay(server, standin, 100, batching=batching)
        peer_source = Source()
        cpu_before = cpu_seconds(relay.process.pid)
        start = time.monotonic()
        offered = await steady(server, peer_source, args.peer, args.peer_rate)
        await drain(relay, receiver, offered, limit=10)
        elapsed = time.monotonic() - start
        cpu_used = cpu_seconds(relay.process.pid) - cpu_before
        messages = (await relay.health())["publisher"]["messagesOut"]
        await relay.stop()
        task.cancel()
        per_thousand = 1000 / max(receiver.trades, 1)
        costs[batching] = (cpu_used * 1000 * per_thousand, messages * per_thousand)
        label = "batched" if batching else "one message per trade"
        print(
            f"peer at {args.peer_rate:,} trades/s offered for {args.peer:g} s, {label}: "
            f"{receiver.trades / elapsed:,.0f} trades/s delivered, {receiver.conflated} "
            f"conflated; per 1,000 trades delivered: relay CPU {costs[batching][0]:.1f} ms, "
            f"{costs[batching][1]:.0f} Web PubSub messages"
        )
    cpu_ratio = costs[False][0] / max(costs[True][0], 1e-9)
    message_ratio = costs[False][1] / max(costs[True][1], 1e-9)
    print(
        f"  one-per-trade / batched: {cpu_ratio:.1f}x the relay CPU and {message_ratio:.0f}x "
        "the Web PubSub messages per trade delivered"
    )
    await server.stop()
    await standin.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="flood seconds (30)")
    parser.add_argument("--steady", type=float, default=10.0, help="latency phase seconds (10)")
    parser.add_argument("--short-window-ms", type=int, default=20, help="second batch window")
    parser.add_argument("--peer", type=float, default=8.0, help="peer comparison seconds (8)")
    parser.add_argument("--peer-rate", type=int, default=10_000, help="peer offered trades/s")
    parser.add_argument(
        "--profile", help="write a cProfile of each relay to FILE.<n> (n counts processes started)"
    )
    parser.add_argument(
        "--archive-flush", type=float, default=10.0, help="RELAY_ARCHIVE_FLUSH_SECONDS (10)"
    )
    arguments = parser.parse_args()
    ARCHIVE_FLUSH_SECONDS[0] = arguments.archive_flush
    if arguments.profile:
        PROFILE.append(arguments.profile)
    try:
        asyncio.run(main(arguments))
    finally:
        for child in RUNNING:
            if child.returncode is None:
                child.kill()
