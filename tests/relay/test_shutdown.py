"""SIGTERM mid-stream: every trade the relay received is in the lake; a restart (even after
SIGKILL) neither loses nor duplicates a trade. The relay runs as `python -m containerapps.relay`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import pyarrow.compute as pc
import pytest

from containerapps.relay.archive import read_ticks
from devhost.webpubsub.finnhub import FinnhubServer
from devhost.webpubsub.standin import StandInServer
from shared.feed.trades import Trade
from shared.storage.factory import lake
from tests.relay.conftest import KEYS, eventually

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SYMBOLS = ("AAPL", "MSFT")


class Stream:
    """Sends consecutive trades per symbol until stopped; remembers what it sent."""

    def __init__(self, server: FinnhubServer, start_ts: int) -> None:
        self.server = server
        self.sent: dict[str, list[Trade]] = {s: [] for s in SYMBOLS}
        self.ts = start_ts
        self.running = True

    async def run(self) -> None:
        while self.running:
            frame = []
            for symbol in SYMBOLS:
                for _ in range(10):
                    self.ts += 1
                    frame.append(Trade(symbol, 100 + self.ts % 100_000 / 100, 1.0, self.ts))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    if await self.server.send_trades(frame):
                        for trade in frame:
                            self.sent[trade.symbol].append(trade)
            await asyncio.sleep(0.002)


async def start_relay(env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "containerapps.relay",
        cwd=REPO,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def run_once(
    finnhub: FinnhubServer, env: dict[str, str], stream: Stream, sig: int, seconds: float
) -> str:
    """Start the relay, stream trades for `seconds`, send `sig` mid-stream, return its output."""
    before = finnhub.connections_total
    process = await start_relay(env)
    try:
        await eventually(
            lambda: finnhub.connections_total > before and finnhub.subscribed() == set(SYMBOLS),
            limit=30,
        )
        stream.running = True
        task = asyncio.create_task(stream.run())
        await asyncio.sleep(seconds)
        process.send_signal(sig)
        await eventually(lambda: not finnhub.clients, limit=20)
        stream.running = False
        await task
        output, _ = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    text = output.decode()
    if sig == signal.SIGTERM:
        assert process.returncode == 0, text
    return text


def archived(symbol: str) -> list[tuple[float, int]]:
    table = read_ticks(lake(), symbol)
    if table.num_rows == 0:
        return []
    ts = pc.cast(pc.cast(table["ts"], "timestamp[ms]"), "int64").to_pylist()
    return list(zip(table["price"].to_pylist(), ts, strict=True))


def spool_files(env: dict[str, str]) -> list[Path]:
    return list(Path(env["RELAY_SPOOL_DIR"]).glob("*.tsv"))


def keys_unique() -> bool:
    table = lake().read("ticks")
    return table.num_rows == len(set(table["key"].to_pylist()))


@pytest.fixture
def relay_env(finnhub: FinnhubServer, standin: StandInServer, tmp_path: Path) -> dict[str, str]:
    from testsupport.host import free_port

    return {
        "FINNHUB_API_KEYS": KEYS[0],
        "FINNHUB_WS_URL": finnhub.url,
        "WEBPUBSUB_CONNECTION_STRING": standin.connection_string(),
        "LOCAL_DATA_DIR": os.environ["LOCAL_DATA_DIR"],
        "RELAY_SPOOL_DIR": str(tmp_path / "spool"),
        "RELAY_HTTP_HOST": "127.0.0.1",
        "RELAY_HTTP_PORT": str(free_port()),
        "RELAY_ARCHIVE_FLUSH_SECONDS": "3600",
        "RELAY_BATCH_MS": "20",
        "RELAY_ID": "shutdown-test",
        "DEFAULT_SYMBOLS": ",".join(SYMBOLS),
        "PYTHONUNBUFFERED": "1",
    }


def spooled_and_archived(output: str) -> tuple[int, int]:
    found = re.findall(r"archived=(\d+) spooled=(\d+)", output)
    assert found, output
    archived_count, spooled = found[-1]
    return int(spooled), int(archived_count)


async def test_sigterm_flushes_everything_received_and_restart_duplicates_nothing(
    finnhub: FinnhubServer, relay_env: dict[str, str]
) -> None:
    stream = Stream(finnhub, 1_763_900_000_000)
    first = await run_once(finnhub, relay_env, stream, signal.SIGTERM, 1.5)
    spooled, archived_count = spooled_and_archived(first)
    assert spooled > 200
    assert spooled == archived_count
    got = {s: archived(s) for s in SYMBOLS}
    assert sum(len(v) for v in got.values()) == spooled
    for symbol in SYMBOLS:
        expected = [(t.price, t.ts_ms) for t in stream.sent[symbol]]
        assert got[symbol] == expected[: len(got[symbol])], "archive is not a gap-free prefix"

    first_counts = {s: len(v) for s, v in got.items()}
    stream.sent = {s: [] for s in SYMBOLS}
    second = await run_once(finnhub, relay_env, stream, signal.SIGTERM, 1.0)
    spooled2, _ = spooled_and_archived(second)
    assert keys_unique()
    for symbol in SYMBOLS:
        after = archived(symbol)
        new = after[first_counts[symbol] :]
        assert after[: first_counts[symbol]] == got[symbol]
        assert new == [(t.price, t.ts_ms) for t in stream.sent[symbol]][: len(new)]
    assert sum(len(archived(s)) for s in SYMBOLS) == spooled + spooled2
    assert not spool_files(relay_env)


async def test_sigkill_leaves_a_spool_that_the_next_start_merges_once(
    finnhub: FinnhubServer, relay_env: dict[str, str]
) -> None:
    stream = Stream(finnhub, 1_763_910_000_000)
    await run_once(finnhub, relay_env, stream, signal.SIGKILL, 1.0)
    spool = spool_files(relay_env)
    assert spool
    assert sum(p.stat().st_size for p in spool) > 0
    assert all(archived(s) == [] for s in SYMBOLS)

    killed_run = {s: [(t.price, t.ts_ms) for t in stream.sent[s]] for s in SYMBOLS}
    stream.sent = {s: [] for s in SYMBOLS}
    await run_once(finnhub, relay_env, stream, signal.SIGTERM, 0.5)
    assert keys_unique()
    for symbol in SYMBOLS:
        rows = archived(symbol)
        recovered = [r for r in rows if r[1] <= killed_run[symbol][-1][1]]
        assert recovered
        assert recovered == killed_run[symbol][: len(recovered)]
