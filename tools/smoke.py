"""Smoke-test a running deployment: health, provider status, a quote, a backtest to completion
and the live feed. Prints a table; exits 1 if any check fails.

    python -m tools.smoke --base-url https://func-xyz.azurewebsites.net --token "$TOKEN"
    python -m tools.smoke --base-url http://127.0.0.1:7071 --token "$(make -s token ROLE=admin)"
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import typer
import websockets
from rich.console import Console
from rich.table import Table

from shared.orchestration import TERMINAL

SUBPROTOCOL = "json.webpubsub.azure.v1"


class SmokeFailure(Exception):
    """A check failed; the message says what was expected and what came back."""


@dataclass
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


def _problem(response: httpx.Response) -> str:
    """The readable part of an error answer, with its request id when there is one."""
    rid = response.headers.get("X-Request-Id")
    suffix = f" (request id {rid})" if rid else ""
    try:
        body = response.json()
    except ValueError:
        return (response.text[:200].strip() or response.reason_phrase) + suffix
    if isinstance(body, dict):
        for key in ("detail", "title", "message", "status"):
            if body.get(key):
                return str(body[key])[:300] + suffix
    return json.dumps(body)[:200] + suffix


class Smoke:
    """The checks, each returning a one-line summary or raising `SmokeFailure`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None,
        symbols: list[str],
        backtest_symbol: str,
        timeout: float,
        ws_duration: float,
        seed: bool,
        seed_functions: tuple[str, ...] = ("ingest_sample",),
        functions_key: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"User-Agent": "tradingjournal-smoke/1"}
        if token:
            headers["Authorization"] = (
                token if token.lower().startswith("bearer ") else (f"Bearer {token}")
            )
        self.client = httpx.Client(base_url=self.base_url, headers=headers, timeout=30.0)
        self.symbols = symbols
        self.backtest_symbol = backtest_symbol
        self.timeout = timeout
        self.ws_duration = ws_duration
        self.seed = seed
        self.seed_functions = seed_functions
        self.functions_key = functions_key

    def close(self) -> None:
        self.client.close()

    def _json(self, method: str, path: str, expect: tuple[int, ...] = (200,), **kw: Any) -> Any:
        response = self.client.request(method, path, **kw)
        if response.status_code not in expect:
            raise SmokeFailure(
                f"{method} {path} answered {response.status_code}: {_problem(response)}"
            )
        try:
            return response.json()
        except ValueError:
            raise SmokeFailure(f"{method} {path} did not answer JSON") from None

    def health(self) -> str:
        body = self._json("GET", "/api/health")
        status = body.get("status", "?")
        if status != "ok":
            raise SmokeFailure(f"/api/health status is {status!r}")
        return f"status ok, version {body.get('version', '?')}"

    def providers(self) -> str:
        body = self._json("GET", "/api/health/providers")
        overall = body.get("status")
        states = ", ".join(
            f"{p.get('provider')} {p.get('status')}" for p in body.get("providers", [])
        )
        if overall == "down":
            raise SmokeFailure(f"every active provider is down ({states})")
        return f"{overall}: {states}"

    def seed_sample(self) -> str:
        """Run the sample-data timer through the host admin API (Core Tools, the local host,
        or Azure with the master key) and wait until the backtest symbol's bars are served."""
        headers = {"x-functions-key": self.functions_key} if self.functions_key else {}
        for function in self.seed_functions:
            path = f"/admin/functions/{function}"
            response = self.client.post(path, json={"input": ""}, headers=headers)
            if response.status_code not in (200, 202, 204):
                raise SmokeFailure(
                    f"POST {path} answered {response.status_code}: {_problem(response)}"
                )
        deadline = time.monotonic() + self.timeout
        bars_path = f"/api/bars/{self.backtest_symbol}"
        while True:
            bars = self.client.get(bars_path, params={"interval": "1d"})
            if bars.status_code == 200 and bars.json().get("count"):
                ran = ", ".join(self.seed_functions)
                return f"{ran} ran; {bars.json()['count']} daily bars of {self.backtest_symbol}"
            if bars.status_code not in (200, 404) or time.monotonic() > deadline:
                raise SmokeFailure(
                    f"no {self.backtest_symbol} bars after {', '.join(self.seed_functions)}: "
                    f"GET {bars_path} answered {bars.status_code}: {_problem(bars)}"
                )
            time.sleep(1.0)

    def quote(self) -> str:
        wanted = ",".join(self.symbols)
        deadline = time.monotonic() + self.timeout
        while True:
            body = self._json("GET", "/api/quotes", params={"symbols": wanted})
            quotes = body.get("quotes") or []
            if quotes:
                first = quotes[0]
                return (
                    f"{first.get('symbol')} {first.get('price')} ({first.get('source', '?')}); "
                    f"{len(quotes)}/{len(self.symbols)} symbols quoted"
                )
            if time.monotonic() > deadline:
                raise SmokeFailure(
                    f"no quote for any of {wanted} within {self.timeout:.0f} s "
                    "(has an ingestion timer or the relay run yet?)"
                )
            time.sleep(1.0)

    def backtest(self) -> str:
        request = {
            "symbols": [self.backtest_symbol],
            "interval": "1d",
            "strategy": {"strategy": "sma_cross", "grid": {"fast": "5:10:5", "slow": "20:30:10"}},
            "topN": 3,
        }
        started = self._json("POST", "/api/backtests", expect=(200, 201, 202), json=request)
        run_id = started.get("runId")
        status_url = started.get("statusUrl") or f"/api/backtests/{run_id}"
        if not run_id:
            raise SmokeFailure(f"POST /api/backtests returned no runId: {json.dumps(started)}")
        deadline = time.monotonic() + self.timeout
        status: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = self._json("GET", status_url)
            if status.get("status") in TERMINAL:
                break
            time.sleep(0.5)
        else:
            raise SmokeFailure(
                f"run {run_id} still {status.get('status')!r} after {self.timeout:.0f} s"
            )
        if status.get("status") != "Completed":
            raise SmokeFailure(f"run {run_id} ended {status['status']}: {status.get('error')}")
        results = self._json("GET", status.get("resultsUrl") or f"{status_url}/results")
        board = results.get("leaderboard") or results.get("summary", {}).get("leaderboard") or []
        return (
            f"run {run_id[:8]} completed: {started.get('combinations', '?')} combinations, "
            f"{len(board)} on the leaderboard"
        )

    def feed(self) -> str:
        negotiation = self._json("GET", "/api/feed/negotiate", params={"all": "true"})
        url, groups = negotiation.get("url"), negotiation.get("groups") or []
        if not url or not groups:
            raise SmokeFailure(f"negotiate returned no url or groups: {list(negotiation)}")
        return asyncio.run(self._first_message(url, groups))

    async def _first_message(self, url: str, groups: list[str]) -> str:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.ws_duration + 10):
                async with websockets.connect(
                    url, subprotocols=[websockets.Subprotocol(SUBPROTOCOL)], open_timeout=10
                ) as socket:
                    for ack_id, group in enumerate(groups, start=1):
                        frame = {"type": "joinGroup", "group": group, "ackId": ack_id}
                        await socket.send(json.dumps(frame))
                    return await self._wait_for_message(socket, started, len(groups))
        except TimeoutError:
            raise SmokeFailure(
                f"no message from the feed within {self.ws_duration:g} s "
                f"({len(groups)} groups joined; is the relay running?)"
            ) from None
        except (OSError, websockets.WebSocketException) as error:
            raise SmokeFailure(f"feed connection failed: {error}") from None

    async def _wait_for_message(self, socket: Any, started: float, groups: int) -> str:
        acks = 0
        deadline = started + self.ws_duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            raw = await asyncio.wait_for(socket.recv(), timeout=remaining)
            frame = json.loads(raw)
            if frame.get("type") == "ack":
                if not frame.get("success", True):
                    raise SmokeFailure(f"joinGroup refused: {frame.get('error')}")
                acks += 1
            elif frame.get("type") == "message":
                elapsed = time.monotonic() - started
                return (
                    f"message on {frame.get('group', frame.get('from'))} after {elapsed:.2f} s "
                    f"({acks}/{groups} joins acknowledged)"
                )


def run_checks(smoke: Smoke, progress: Callable[[str], None] | None = None) -> list[CheckResult]:
    """Run every check (a failure does not stop the others, except a failed seed skips the
    backtest) and return their results."""
    checks: list[tuple[str, Callable[[], str]]] = [
        ("health", smoke.health),
        ("providers", smoke.providers),
    ]
    if smoke.seed:
        checks.append(("seed", smoke.seed_sample))
    checks += [("quote", smoke.quote), ("backtest", smoke.backtest), ("feed", smoke.feed)]
    results: list[CheckResult] = []
    for name, check in checks:
        if progress:
            progress(name)
        started = time.monotonic()
        try:
            ok, detail = True, check()
        except SmokeFailure as failure:
            ok, detail = False, str(failure)
        except httpx.HTTPError as error:
            ok, detail = False, f"cannot reach {smoke.base_url}: {type(error).__name__} {error}"
        except Exception as error:
            ok, detail = False, f"unexpected {type(error).__name__}: {error}"
        results.append(CheckResult(name, ok, detail, time.monotonic() - started))
    return results


def render(results: list[CheckResult], base_url: str, console: Console) -> None:
    table = Table(title=f"smoke test of {base_url}")
    table.add_column("check")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    table.add_column("detail", overflow="fold")
    for result in results:
        mark = "[green]pass[/green]" if result.ok else "[red]FAIL[/red]"
        table.add_row(result.name, mark, f"{result.seconds:.2f}", result.detail)
    console.print(table)


app = typer.Typer(add_completion=False, help=__doc__)


@app.command()
def main(
    base_url: str = typer.Option(..., "--base-url", help="Origin of the app, without /api."),
    token: str | None = typer.Option(
        None, "--token", envvar="SMOKE_TOKEN", help="Bearer token with the trader (or admin) role."
    ),
    ws_duration: float = typer.Option(3.0, "--ws-duration", help="Seconds to wait for a tick."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds to wait for a quote/run."),
    symbols: str = typer.Option(
        "AAPL,MSFT,SPY,BTC-USD,GOOG", "--symbols", help="Pass if any of these has a quote."
    ),
    backtest_symbol: str = typer.Option("GOOG", "--backtest-symbol", help="Backtest this."),
    seed: bool = typer.Option(
        False, "--seed", help="First run the sample-data timer via the host admin API."
    ),
    seed_functions: list[str] = typer.Option(
        ["ingest_sample"], "--seed-function", help="Timer(s) --seed runs (repeat the option)."
    ),
    functions_key: str | None = typer.Option(
        None, "--functions-key", envvar="FUNCTIONS_MASTER_KEY", help="For /admin in Azure."
    ),
) -> None:
    """Run the checks against BASE_URL and print a table; exit 1 if any failed."""
    console = Console()
    smoke = Smoke(
        base_url,
        token=token,
        symbols=[s.strip() for s in symbols.split(",") if s.strip()],
        backtest_symbol=backtest_symbol,
        timeout=timeout,
        ws_duration=ws_duration,
        seed=seed,
        seed_functions=tuple(seed_functions),
        functions_key=functions_key,
    )
    try:
        with console.status("smoke test") as status:
            results = run_checks(smoke, lambda name: status.update(f"checking {name}"))
    finally:
        smoke.close()
    render(results, base_url, console)
    failed = [r.name for r in results if not r.ok]
    if failed:
        console.print(f"[red]{len(failed)} check(s) failed: {', '.join(failed)}[/red]")
        raise typer.Exit(1)
    console.print(f"[green]all {len(results)} checks passed[/green]")


if __name__ == "__main__":
    app()
