"""Hostile backtest/strategy requests against a real local host (`python -m devhost`), while
/api/health is polled: how long the worst refused request takes and how much it delays health.

    .venv/bin/python bench/backtest_validation.py [--rounds 3]

Sends every body of testsupport/hostile_bodies.py (grids of 4,000,000 values,
"1e450000", NaN, warm-ups longer than the bars, ...) `--rounds` times, one at a time, with
GOOG's daily bars in the lake, and polls GET /api/health every 20 ms in another thread
(first alone for a baseline, then during the requests). Prints one line a script can read:
`BENCH validation refused=N worst_ms=… health_max_ms=… health_p99_ms=… baseline_max_ms=…`.
Target: every request refused with 422, health never delayed by more than 50 ms over its
baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx


def _poll(base_url: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get("/api/health")
            out.append(time.perf_counter() - started)
            time.sleep(0.02)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="bench-validation-"))
    env = {
        "LOCAL_DATA_DIR": str(data_dir),
        "DEV_ISSUER_KEY_FILE": str(data_dir / "dev-issuer-key.pem"),
        "BACKTEST_MAX_COMBINATIONS": "1000",
        "BACKTEST_WORKERS": "1",
    }
    os.environ.update(env)
    from testsupport.auth import auth_headers
    from testsupport.bars import write_bars
    from testsupport.host import start_host
    from testsupport.hostile_bodies import BACKTESTS, STRATEGIES

    write_bars()
    headers = {**auth_headers(), "Content-Type": "application/json"}
    cases = [("backtests", body) for body, _, _ in BACKTESTS]
    cases += [("strategies", body) for body, _, _ in STRATEGIES]
    with start_host(env=env) as host, httpx.Client(base_url=host.base_url, timeout=60) as client:
        client.get("/api/health")
        baseline: list[float] = []
        stop = threading.Event()
        poller = threading.Thread(target=_poll, args=(host.base_url, stop, baseline))
        poller.start()
        time.sleep(2.0)
        stop.set()
        poller.join()
        during: list[float] = []
        stop = threading.Event()
        poller = threading.Thread(target=_poll, args=(host.base_url, stop, during))
        poller.start()
        latencies: list[tuple[float, int, str]] = []
        try:
            for _ in range(args.rounds):
                for route, body in cases:
                    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                    started = time.perf_counter()
                    response = client.post(f"/api/{route}", content=raw, headers=headers)
                    elapsed = time.perf_counter() - started
                    latencies.append((elapsed, response.status_code, raw.decode()[:100]))
        finally:
            stop.set()
            poller.join()
    worst = max(latencies)
    statuses = sorted({status for _, status, _ in latencies})
    print(f"statuses {statuses}; worst request {worst[0] * 1000:.1f} ms: {worst[2]}")
    print(
        f"BENCH validation refused={sum(s == 422 for _, s, _ in latencies)}/{len(latencies)} "
        f"worst_ms={worst[0] * 1000:.1f} "
        f"median_ms={_percentile([t for t, _, _ in latencies], 0.5) * 1000:.1f} "
        f"health_max_ms={max(during) * 1000:.1f} "
        f"health_p99_ms={_percentile(during, 0.99) * 1000:.1f} "
        f"health_median_ms={_percentile(during, 0.5) * 1000:.1f} "
        f"baseline_max_ms={max(baseline) * 1000:.1f} "
        f"baseline_median_ms={_percentile(baseline, 0.5) * 1000:.1f} "
        f"baseline_p99_ms={_percentile(baseline, 0.99) * 1000:.1f}"
    )
    return 0 if statuses == [422] else 1


if __name__ == "__main__":
    raise SystemExit(main())
