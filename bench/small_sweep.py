"""Small sweeps through the local host: start to `Completed`, polling included, warm.

    .venv/bin/python bench/small_sweep.py [--runs 15] [--poll-ms 20] [--modes fast,today]

Starts `python -m devhost` (as the e2e tests do: `testsupport.host.start_host`) with GOOG's
2,148 daily bars (backtesting.py's sample) in the lake, warms the workers with three sweeps,
then times `--runs` sweeps of SMA cross (fast 2..40 x slow 10..250 step 10: 911 valid
combinations, under the issue's 1,000) as a client sees them: `POST /api/backtests`, then
`GET /api/backtests/{id}` until the status is `Completed`. The client polls with the status
route's long-poll (`?waitSeconds=`, answered as soon as the run ends) or, with `--poll-ms`,
every that many ms.

The breakdown comes from the orchestration's own history (the Durable HTTP API with
`showHistory=true`): plan, chunks (first scheduled to last completed), aggregate, each from
its TaskScheduled to its TaskCompleted, and everything else, the orchestration overhead
(HTTP start, replays, the status poll that sees the end). Target: p50 <= 300 ms.

Each `--modes` entry is a host: `fast` with the defaults, `today` with the settings that
restore the earlier way (BACKTEST_LAZY_FILES=false: every result file written in the
aggregate, the chart drawn there; BACKTEST_INLINE_SMALL_SWEEPS=false: plan, chunk and
aggregate as three activities; no long-poll, a poll every 250 ms). Both in the same run.
With the inline path the chunk and the aggregate run inside the plan activity: the breakdown
then takes plan, chunks (kernel) and aggregate from the run's own timings, and the rest of
that activity (reading the snapshot, writing the chunk's Parquet) counts as overhead.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

GRID = {"fast": "2:40", "slow": "10:250:10"}
TARGET_P50_MS = 300.0
MODES: dict[str, dict[str, str]] = {
    "fast": {},
    "today": {"BACKTEST_LAZY_FILES": "false", "BACKTEST_INLINE_SMALL_SWEEPS": "false"},
}


@dataclass
class Sample:
    wall: float
    plan: float
    chunks: float
    aggregate: float
    n_chunks: int
    polls: int
    start: float
    """From sending the POST to the orchestration's first episode."""
    ran: float
    """From the orchestration's first episode to its completion."""
    inside: dict[str, float] = field(default_factory=dict)

    @property
    def overhead(self) -> float:
        return self.wall - self.plan - self.chunks - self.aggregate

    @property
    def engine(self) -> float:
        """The engine's share of the overhead: replays, saving histories, dispatching."""
        return self.ran - self.plan - self.chunks - self.aggregate

    @property
    def lag(self) -> float:
        """From the orchestration's completion to the client holding the answer."""
        return self.wall - self.start - self.ran


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _span(history: list[dict[str, Any]], name: str) -> tuple[float, int]:
    """Seconds from the first TaskScheduled of activity `name` to its last TaskCompleted."""
    ids = {e["EventId"]: e for e in history if e["EventType"] == 4 and e.get("Name") == name}
    done = [e for e in history if e["EventType"] == 5 and e.get("TaskScheduledId") in ids]
    if not ids or not done:
        return 0.0, 0
    first = min(_parse(e["Timestamp"]) for e in ids.values())
    last = max(_parse(e["Timestamp"]) for e in done)
    return (last - first).total_seconds(), len(ids)


def one_run(
    client: httpx.Client, headers: dict[str, str], poll_ms: float | None, body: dict[str, Any]
) -> Sample:
    started = time.perf_counter()
    sent = time.time()
    response = client.post("/api/backtests", json=body, headers=headers)
    response.raise_for_status()
    run_id = response.json()["runId"]
    polls = 0
    while True:
        query = "" if poll_ms else "?waitSeconds=30"
        view = client.get(f"/api/backtests/{run_id}{query}", headers=headers).json()
        polls += 1
        if view["status"] in ("Completed", "Failed", "Terminated"):
            break
        if poll_ms:
            time.sleep(poll_ms / 1000.0)
    wall = time.perf_counter() - started
    if view["status"] != "Completed":
        raise SystemExit(f"run {run_id} ended {view['status']}: {view.get('error')}")
    status = client.get(
        f"/runtime/webhooks/durabletask/instances/{run_id}", params={"showHistory": "true"}
    ).json()
    history = status["historyEvents"]
    plan, _ = _span(history, "backtest_plan")
    chunks, n_chunks = _span(history, "backtest_chunk")
    aggregate, _ = _span(history, "backtest_aggregate")
    timings = view.get("timings") or {}
    if n_chunks == 0:  # run inside the plan activity: its own timings split it
        plan = timings["planSeconds"]
        chunks = timings["chunkSeconds"]
        aggregate = timings["aggregateSeconds"]
        n_chunks = int(view["chunkStats"]["total"])
    first = min(_parse(e["Timestamp"]) for e in history if e["EventType"] == 12).timestamp()
    ended = max(_parse(e["Timestamp"]) for e in history if e["EventType"] == 1).timestamp()
    return Sample(
        wall, plan, chunks, aggregate, n_chunks, polls, first - sent, ended - first, dict(timings)
    )


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000.0 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_mode(mode: str, runs: int, poll_ms: float | None, data_dir: Path) -> list[Sample]:
    from testsupport.auth import auth_headers
    from testsupport.host import start_host

    env = {
        "LOCAL_DATA_DIR": str(data_dir),
        "DEV_ISSUER_KEY_FILE": str(data_dir / "dev-issuer-key.pem"),
        "ENVIRONMENT": "local",
        **MODES[mode],
    }
    headers = auth_headers("trader", "bench")
    body = {"symbols": ["GOOG"], "strategy": {"strategy": "sma_cross", "grid": GRID}, "topN": 10}
    with (
        start_host(env=env, ready_timeout=120) as host,
        httpx.Client(base_url=host.base_url, timeout=120) as client,
    ):
        for _ in range(3):  # JIT-compile the kernels in both workers, warm every cache
            one_run(client, headers, poll_ms, body)
        return [one_run(client, headers, poll_ms, body) for _ in range(runs)]


def report(mode: str, samples: list[Sample], poll: str) -> float:
    walls = [s.wall for s in samples]
    p50 = _ms(walls, 0.5)
    parts = {
        "plan": [s.plan for s in samples],
        "chunks": [s.chunks for s in samples],
        "aggregate": [s.aggregate for s in samples],
        "orchestration": [s.overhead for s in samples],
    }
    overhead = {
        "start": [s.start for s in samples],
        "engine": [s.engine for s in samples],
        "end": [s.lag for s in samples],
    }
    breakdown = ", ".join(f"{k} {1000 * statistics.median(v):.0f}" for k, v in parts.items())
    inside = {
        key: 1000 * statistics.median(s.inside.get(key, 0.0) for s in samples)
        for key in ("planSeconds", "chunkSeconds", "aggregateSeconds")
    }
    polls = statistics.median(s.polls for s in samples)
    print(
        f"{mode:>5}: {len(samples)} runs, {samples[0].n_chunks} chunk(s), {poll}: "
        f"p50 {p50:.0f} ms, p95 {_ms(walls, 0.95):.0f} ms (target p50 <= {TARGET_P50_MS:.0f} ms)"
        f"\n       median breakdown (ms): {breakdown}; inside the activities: plan "
        f"{inside['planSeconds']:.0f}, kernel {inside['chunkSeconds']:.0f}, aggregate "
        f"{inside['aggregateSeconds']:.0f}; polls per run {polls:.0f}"
        f"\n       orchestration overhead (ms): "
        + ", ".join(f"{k} {1000 * statistics.median(v):.0f}" for k, v in overhead.items())
        + " (POST to first episode; replays, saves and dispatch; completion to the answer)"
    )
    print(
        f"BENCH small_sweep mode={mode} p50_ms={p50:.1f} p95_ms={_ms(walls, 0.95):.1f} "
        + " ".join(f"{k}_ms={1000 * statistics.median(v):.1f}" for k, v in parts.items())
        + f" target_p50_ms={TARGET_P50_MS:.0f}"
    )
    return p50


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--poll-ms", type=float, default=None, help="poll every N ms (default: long-poll)"
    )
    parser.add_argument("--modes", default="fast,today", help="comma-separated: fast, today")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-small-sweep-"))
    os.environ.update({"LOCAL_DATA_DIR": str(root), "ENVIRONMENT": "local"})
    os.environ["DEV_ISSUER_KEY_FILE"] = str(root / "dev-issuer-key.pem")
    from shared.backtest import StrategySpec
    from testsupport.bars import write_bars

    write_bars()
    combos = StrategySpec(strategy="sma_cross", grid=GRID).combinations()
    load = os.getloadavg()
    print(
        f"sma_cross {GRID} on GOOG ({len(combos)} combinations, 2,148 daily bars); "
        f"{os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    p50s = {}
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        poll_ms = args.poll_ms
        if mode == "today" and poll_ms is None:
            poll_ms = 250.0  # no long-poll before: a client polls (Retry-After says 2 s)
        samples = bench_mode(mode, args.runs, poll_ms, root)
        poll = f"polling every {poll_ms:.0f} ms" if poll_ms else "long-poll"
        p50s[mode] = report(mode, samples, poll)
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if "fast" in p50s and "today" in p50s:
        print(f"p50 today {p50s['today']:.0f} ms -> {p50s['fast']:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
