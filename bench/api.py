"""API figures through the local host: token validation cost, order latency, racing orders.

    .venv/bin/python bench/api.py [--orders 100] [--burst 20]

Prints: in-process validation of a dev token (µs), sequential market-order round trips
(p50/p95 ms, orders/s), and a burst of concurrent orders on one account (wall time, how
many filled, final cash, and that cash never went below zero).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from shared.auth.tokens import authenticate_header
from shared.config import get_settings
from shared.ingest.state import QUOTES
from shared.storage.documents_sqlite import SqliteDocumentStore
from testsupport.auth import auth_headers
from testsupport.host import start_host


def put_quote(store: SqliteDocumentStore, symbol: str, price: float) -> None:
    store.upsert(
        QUOTES,
        {
            "id": symbol,
            "pk": symbol,
            "symbol": symbol,
            "price": price,
            "ts": datetime.now(UTC).isoformat(),
            "source": "test",
        },
    )


async def validation_cost(rounds: int = 2000) -> float:
    header = auth_headers("trader", "bench")["Authorization"]
    await authenticate_header(header, "viewer")
    start = time.perf_counter()
    for _ in range(rounds):
        await authenticate_header(header, "viewer")
    return (time.perf_counter() - start) / rounds * 1e6


async def main(orders: int, burst: int) -> None:
    data = Path(tempfile.mkdtemp(prefix="bench-api-"))
    os.environ["LOCAL_DATA_DIR"] = str(data)
    os.environ.setdefault("DEV_ISSUER_KEY_FILE", str(data / "dev-issuer-key.pem"))
    get_settings.cache_clear()
    print(f"dev token validation in-process: {await validation_cost():.0f} µs per request")
    with start_host(env={"LOCAL_DATA_DIR": str(data)}) as host:
        store = SqliteDocumentStore(data / "documents.sqlite3")
        put_quote(store, "AAPL", 100.0)
        headers = auth_headers("trader", "bench")
        async with httpx.AsyncClient(
            base_url=f"{host.base_url}/api", headers=headers, timeout=120
        ) as client:
            account = (await client.post("/paper/accounts", json={"startingCash": 1e9})).json()
            url = f"/paper/accounts/{account['id']}/orders"
            order = {"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1}
            await client.post(url, json=order)
            times = []
            for _ in range(orders):
                start = time.perf_counter()
                reply = await client.post(url, json=order)
                times.append(time.perf_counter() - start)
                assert reply.status_code == 201, reply.text
            times.sort()
            p95 = times[int(len(times) * 0.95) - 1]
            print(
                f"sequential market orders: p50 {statistics.median(times) * 1e3:.1f} ms, "
                f"p95 {p95 * 1e3:.1f} ms, {len(times) / sum(times):.0f} orders/s"
            )
            cash = 100.05 * (burst // 2) + 1
            racing = (await client.post("/paper/accounts", json={"startingCash": cash})).json()
            url = f"/paper/accounts/{racing['id']}/orders"
            start = time.perf_counter()
            replies = await asyncio.gather(*[client.post(url, json=order) for _ in range(burst)])
            wall = time.perf_counter() - start
            view = (await client.get(f"/paper/accounts/{racing['id']}")).json()
    filled = sum(reply.status_code == 201 for reply in replies)
    print(
        f"{burst} concurrent orders on one account with cash for {burst // 2}: {wall:.2f} s, "
        f"{filled} filled, {burst - filled} refused, final cash {view['cash']:.2f} "
        f"({'never below zero' if view['cash'] >= 0 else 'OVERDRAWN'})"
    )
    if view["cash"] < 0 or filled != burst // 2:
        raise SystemExit(1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=100)
    parser.add_argument("--burst", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.orders, args.burst))
