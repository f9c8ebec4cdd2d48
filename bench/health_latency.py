"""Does any request stall the host? Polls GET /api/health while firing the worst requests.

    .venv/bin/python bench/health_latency.py [--check] [--stall-ms 50]

Starts the local host (one activity worker, the default grid cap), seeds the lake with the
bundled GOOG sample bars, measures health latency at rest, then fires, one after another,
the costliest requests the API accepts (a sweep at the grid cap, the same spec saved as a
strategy, a multi-year backfill, every stored bar as CSV) and the hostile ones it must
refuse cheaply (issue 12's 4,000,000-value axis and 1e450000 number, 1e200000 on
strategies, a body over the size limit, JSON nested 100,000 deep). A health poll runs every
5 ms throughout, on its own connection. Prints, per request, its status and time and the
slowest health answer while it was in flight (the stall is that minus the median at rest)
and the CPU the host process spent meanwhile (every thread, not its worker processes): the
bound on how long the request could hold the event loop, whatever the machine's load, which
`tests/api/test_health_latency.py` asserts. Ends with one `BENCH health_latency ...` line.
With --check the exit code is 1 if any stall exceeds --stall-ms (50 ms, issue 12) or a
request got a status other than its expected one.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from testsupport.auth import auth_headers
from testsupport.health_load import SEED, host_cpu_seconds, shots
from testsupport.host import start_host

POLL_SECONDS = 0.005
REST_SECONDS = 2.0


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


@dataclass
class Row:
    label: str
    status: int
    expected: int
    took: float
    slowest: float
    cpu: float


async def measure(base_url: str, headers: dict[str, str], pid: int) -> tuple[float, list[Row]]:
    poller = Poller(base_url)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(REST_SECONDS)
    rest = statistics.median(lat for _, lat in poller.samples)
    rows = []
    started_runs: list[str] = []
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=300) as client:
        for shot in shots():
            cpu_before = host_cpu_seconds(pid)
            began = time.perf_counter()
            try:
                response = await shot.send_async(client)
                status = response.status_code
            except httpx.HTTPError:
                status = 0  # no answer within the timeout
            ended = time.perf_counter()
            await asyncio.sleep(0.05)  # let the polls in flight come back
            cpu = host_cpu_seconds(pid) - cpu_before
            slowest = poller.slowest(began, ended)
            rows.append(Row(shot.label, status, shot.status, ended - began, slowest, cpu))
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
            f"{host.base_url}/api/ops/backfill", json=SEED, headers=headers, timeout=120
        )
        seeded.raise_for_status()
        rest, rows = asyncio.run(measure(host.base_url, headers, host.process.pid))
    load1 = os.getloadavg()[0]
    print(f"health at rest: median {rest * 1000:.1f} ms (poll every {POLL_SECONDS * 1000:.0f} ms)")
    print(
        f"{'request':36} {'status':>6} {'took ms':>9} {'health max ms':>14} {'stall ms':>9} "
        f"{'host cpu ms':>12}"
    )
    worst = worst_cpu = 0.0
    wrong = 0
    for row in rows:
        stall = max(0.0, row.slowest - rest) * 1000
        worst = max(worst, stall)
        worst_cpu = max(worst_cpu, row.cpu * 1000)
        wrong += row.status != row.expected
        print(
            f"{row.label:36} {row.status:>6} {row.took * 1000:>9.1f} {row.slowest * 1000:>14.1f} "
            f"{stall:>9.1f} {row.cpu * 1000:>12.0f}"
        )
    print(
        f"BENCH health_latency worst_stall_ms={worst:.1f} limit_ms={args.stall_ms:g} "
        f"worst_host_cpu_ms={worst_cpu:.0f} rest_ms={rest * 1000:.1f} load1={load1:.2f} "
        f"wrong_status={wrong}"
    )
    return 1 if args.check and (worst > args.stall_ms or wrong) else 0


if __name__ == "__main__":
    raise SystemExit(main())
