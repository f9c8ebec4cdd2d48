"""The worst requests the API accepts and the hostile ones it must refuse cheaply (issue 12),
and how much CPU the host process spends on each: shared by `bench/health_latency.py` and
`tests/api/test_health_latency.py`.

The host serves every caller from one event loop, and a thread of the host can hold the loop
(the GIL) only while it runs: so the CPU the host process (every thread, not its worker
processes) spends while a request is in flight bounds how long that request can stall
`/api/health`, whatever else the machine is doing. Wall-clock health latency on a loaded
2-core machine mostly measures the scheduler; host CPU does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import psutil

SMA = "sma_cross"
AT_CAP = {"strategy": SMA, "grid": {"fast": "1:200", "slow": "2:301"}}  # 40,100 valid pairs
SEED = {"symbols": "GOOG", "start": "2004-08-19", "end": "2005-12-31", "provider": "sample"}


@dataclass(frozen=True)
class Shot:
    """One costly or hostile request and the status it must get."""

    label: str
    method: str
    path: str
    status: int
    json: Any = None
    content: bytes | None = None
    params: dict[str, str] | None = None

    def _request(self) -> dict[str, Any]:
        extra = {"Content-Type": "application/json"} if self.content is not None else {}
        return {
            "method": self.method,
            "url": self.path,
            "json": self.json,
            "content": self.content,
            "params": self.params,
            "headers": extra,
        }

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(**self._request())

    async def send_async(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.request(**self._request())


def shots() -> list[Shot]:
    """Accepted first (a sweep at the grid cap, the same spec saved as a strategy, a 4-year
    backfill, every stored bar as CSV and JSON), then the refused ones."""
    grid = {"fast": "1:4000000", "slow": [300]}
    return [
        Shot(
            "accepted: sweep at the grid cap",
            "POST",
            "/api/backtests",
            202,
            {"symbols": ["GOOG"], "strategy": AT_CAP},
        ),
        Shot(
            "accepted: strategy at the grid cap",
            "POST",
            "/api/strategies",
            201,
            {"name": "cap", "spec": AT_CAP},
        ),
        Shot(
            "accepted: 4-year sample backfill",
            "POST",
            "/api/ops/backfill",
            200,
            {"symbols": "GOOG", "start": "2004-08-19", "end": "2008-10-14", "provider": "sample"},
        ),
        Shot(
            "accepted: every GOOG bar as CSV",
            "GET",
            "/api/bars/GOOG",
            200,
            params={"format": "csv"},
        ),
        Shot("accepted: every GOOG bar as JSON", "GET", "/api/bars/GOOG", 200),
        Shot(
            "refused: 4,000,000-value axis",
            "POST",
            "/api/backtests",
            422,
            {"symbols": ["GOOG"], "strategy": {"strategy": SMA, "grid": grid}},
        ),
        Shot(
            "refused: grid value 1e450000",
            "POST",
            "/api/backtests",
            422,
            {
                "symbols": ["GOOG"],
                "strategy": {"strategy": SMA, "grid": {"fast": ["1e450000"], "slow": [300]}},
            },
        ),
        Shot(
            "refused: strategy param 1e200000",
            "POST",
            "/api/strategies",
            422,
            {"name": "big", "spec": {"strategy": SMA, "params": {"fast": "1e200000"}}},
        ),
        Shot(
            "refused: 2 MB body (cap 256 KiB)",
            "POST",
            "/api/watchlists",
            400,
            content=b'{"name": "' + b"x" * 2_000_000 + b'", "symbols": []}',
        ),
        Shot(
            "refused: JSON nested 100,000 deep",
            "POST",
            "/api/strategies",
            422,
            content=b"[" * 100_000,
        ),
    ]


def host_cpu_seconds(pid: int) -> float:
    """User + system CPU of process `pid`, every thread, not its children."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)
