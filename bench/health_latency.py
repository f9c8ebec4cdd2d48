"""Does any request stall the host? Polls GET /api/health while firing the worst requests.

    .venv/bin/python bench/health_latency.py [--check] [--stall-ms 50]

Starts the local host (one activity worker, the default grid cap), seeds the lake with the
bundled GOOG sample bars, measures health latency at rest, then fires, one after another,
the costliest requests the API accepts (a sweep at the grid cap, the same spec saved as a
strategy, a multi-year backfill, every stored bar as CSV) and the hostile ones it must
refuse cheaply (issue 12's 4,000,000-value axis and 1e450000 number, 1e200000 on
strategies, a body over the size limit, JSON nested 100,000 deep). A health poll runs every
5 ms throughout, on its own connection. Prints, per request, its status and time and the
slowest health answer while it was in flight; the stall is that minus the median at rest.
With --check the exit code is 1 if any stall exceeds --stall-ms (50 ms, issue 12).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from testsupport.auth import auth_headers
from testsupport.host import start_host

POLL_SECONDS = 0.005
REST_SECONDS = 2.0
SMA = "sma_cross"


@dataclass
class Shot:
    """One hostile or costly request."""

    label: str
    method: str
    path: str
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | None = None


def shots() -> list[Shot]:
    at_cap = {"strategy": SMA, "grid": {"fast": "1:200", "slow": "2:301"}}  # 40,100 pairs
    return [
        Shot(
            "accepted: sweep at the grid cap",
            "POST",
            "/api/backtests",
            {"symbols": ["GOOG"], "strategy": at_cap},
        ),
        Shot(
            "accepted: strategy at the grid cap",
            "POST",
            "/api/strategies",
            {"name": "cap", "spec": at_cap},
        ),
        Shot(
            "accepted: 4-year sample backfill",
            "POST",
            "/api/ops/backfill",
            {"symbols": "GOOG", "start": "2004-08-19", "end": "2008-10-14", "provider": "sample"},
        ),
        Shot("accepted: every GOOG bar as CSV", "GET", "/api/bars/GOOG", params={"format": "csv"}),
        Shot(
            "refused: 4,000,000-value axis",
            "POST",
            "/api/backtests",
            {
                "symbols": ["GOOG"],
                "strategy": {"strategy": SMA, "grid": {"fast": "1:4000000", "slow": [300]}},
            },
        ),
        Shot(
            "refused: grid value 1e450000",
            "POST",
            "/api/backtests",
            {
                "symbols": ["GOOG"],
                "strategy": {"strategy": SMA, "grid": {"fast": ["1e450000"], "slow": [300]}},
            },
        ),
        Shot(
            "refused: strategy param 1e200000",
            "POST",
            "/api/strategies",
            {"name": "big", "spec": {"strategy": SMA, "params": {"fast": "1e200000"}}},
        ),
        Shot(
            "refused: 2 MB body",
            "POST",
            "/api/watchlists",
            content=b'{"name": "' + b"x" * 2_000_000 + b'", "symbols": []}',
        ),
        Shot(
            "refused: JSON nested 100,000 deep", "POST", "/api/strategies", content=b"[" * 100_000
        ),
    ]


@dataclass
class Poller:
    """GET /api/health in a loop; (sent at, latency) of every answer."""

    base_url: str
    samples: list[tuple[float, float]] = field(default_factory=list)
    stop: bool = False

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=120) as client:
            while not self.stop:
                sent = time.perf_counter()
                with contextlib.suppress(httpx.TimeoutException):  # counted as the time waited
                    await client.get("/api/health")
                self.samples.append((sent, time.perf_counter() - sent))
                await asyncio.sleep(POLL_SECONDS)

    def slowest(self, start: float, end: float) -> float:
        """The slowest health answer in flight at any time in [start, end]."""
        inside = [lat for sent, lat in self.samples if sent <= end and sent + lat >= start]
        return max(inside, default=0.0)


async def measure(
    base_url: str, headers: dict[str, str]
) -> tuple[float, list[tuple[str, int, float, float]]]:
    poller = Poller(base_url)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(REST_SECONDS)
    rest = statistics.median(lat for _, lat in poller.samples)
    rows = []
    started_runs: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300) as client:
        for shot in shots():
            extra = {"Content-Type": "application/json"} if shot.content is not None else {}
            began = time.perf_counter()
            try:
                response = await client.request(
                    shot.method,
                    shot.path,
                    json=shot.json,
                    content=shot.content,
                    params=shot.params,
                    headers=extra,
                )
                status = response.status_code
            except httpx.HTTPError:
                status = 0  # no answer within the timeout
            ended = time.perf_counter()
            await asyncio.sleep(0.05)  # let the polls in flight come back
            rows.append((shot.label, status, ended - began, poller.slowest(began, ended)))
            if shot.path == "/api/backtests" and status == 202:
                started_runs.append(response.json()["runId"])
        for run_id in started_runs:  # the sweep at the cap would keep the machine busy
            await client.delete(f"/api/backtests/{run_id}")
    poller.stop = True
    await task
    return rest, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a stall exceeds --stall-ms")
    parser.add_argument("--stall-ms", type=float, default=50.0)
    args = parser.parse_args()
    data = Path(tempfile.mkdtemp(prefix="bench-health-"))
    os.environ.setdefault("DEV_ISSUER_KEY_FILE", str(data / "dev-issuer-key.pem"))
    env = {
        "LOCAL_DATA_DIR": str(data / "data"),
        "BACKTEST_WORKERS": "1",
        "RELAY_IN_DEVHOST": "false",
    }
    headers = auth_headers("admin", "bench")
    with start_host(env=env) as host:
        seeded = httpx.post(
            f"{host.base_url}/api/ops/backfill",
            json={
                "symbols": "GOOG",
                "start": "2004-08-19",
                "end": "2005-12-31",
                "provider": "sample",
            },
            headers=headers,
            timeout=120,
        )
        seeded.raise_for_status()
        rest, rows = asyncio.run(measure(host.base_url, headers))
    print(f"health at rest: median {rest * 1000:.1f} ms (poll every {POLL_SECONDS * 1000:.0f} ms)")
    print(f"{'request':40} {'status':>6} {'took ms':>9} {'health max ms':>14} {'stall ms':>9}")
    worst = 0.0
    for label, status, took, slowest in rows:
        stall = max(0.0, slowest - rest) * 1000
        worst = max(worst, stall)
        print(f"{label:40} {status:>6} {took * 1000:>9.1f} {slowest * 1000:>14.1f} {stall:>9.1f}")
    print(f"worst stall: {worst:.1f} ms (limit {args.stall_ms:g} ms)")
    return 1 if args.check and worst > args.stall_ms else 0


if __name__ == "__main__":
    raise SystemExit(main())
