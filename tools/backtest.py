"""`python -m tools.backtest`: run a sweep through the same Durable orchestration, in-process.

    python -m tools.backtest --symbol GOOG --strategy sma_cross --grid fast=5:50:5 slow=20:200:10

Starts the local durable engine in this process (activities in a process pool, one worker per
core or BACKTEST_WORKERS), shows a progress bar fed by the orchestration's custom status, and
prints the leaderboard. Bars come from the lake under LOCAL_DATA_DIR; `--load-sample` first
merges the bundled daily bars of each symbol (GOOG, ^GSPC, ^IXIC; see shared.providers.sample).
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import azure.functions as func
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from devhost.durable.engine import DurableEngine, EngineClient
from durable.backtest import bp as backtest_bp
from shared.backtest import ExecutionSettings, StrategySpec
from shared.backtest.runs import (
    TERMINAL,
    BacktestRequest,
    RunService,
    prepare_run,
    read_run,
    results_store,
    write_result_files,
)
from shared.backtest.runs import Progress as RunProgress
from shared.config import get_settings
from shared.errors import DomainError

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(backtest_bp)
APP_REFERENCE = "tools.backtest:app"
CLI_ACCOUNT = "cli"
CLI_HUB = "BacktestCli"

console = Console()


def load_sample(symbol: str) -> int:
    """Merge the bundled daily bars of `symbol` (`shared.providers.sample`, the same data the
    `ingest_sample` timer loads: one dataset per symbol) into the lake; typer.Exit(2) naming
    the symbols that have one when `symbol` has none."""
    from datetime import UTC, datetime

    from shared.ingest.bars import BarLake
    from shared.market.symbols import parse_symbol
    from shared.providers.sample import DATASETS, SampleClient
    from shared.storage.factory import lake

    names = [dataset.symbol for dataset in DATASETS]
    text = parse_symbol(symbol).text
    if text not in names:
        console.print(
            f"[red]no bundled sample data for {text}[/red]; bundled: {', '.join(names)} "
            "(other symbols need a provider: python -m tools.backfill ...)"
        )
        raise typer.Exit(2)
    bars = SampleClient().daily(parse_symbol(text))
    BarLake(lake()).merge(bars, ingested_at=datetime.now(UTC))
    return len(bars)


async def run(request: BacktestRequest, *, workers: int | None) -> dict[str, Any]:
    """Start the run (the run service, as the API does) on an in-process engine and follow
    it to the end."""
    settings = get_settings()
    prepared = await prepare_run(request, CLI_ACCOUNT)
    run_id = prepared.job.run_id
    engine = DurableEngine(
        app_ref=APP_REFERENCE,
        data_dir=settings.local_data_dir,
        hub=CLI_HUB,
        workers=settings.backtest_workers if workers is None else workers,
    )
    console.print(
        f"run [bold]{run_id}[/]: {prepared.accepted.combinations} combinations of "
        f"{request.spec.strategy} on {', '.join(request.symbols)}; starting {engine.workers} "
        "worker process(es)"
    )
    started = time.perf_counter()
    await engine.start()
    try:
        await RunService(EngineClient(engine)).launch(prepared)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[best]}"),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("planning", total=None, best="")
            while True:
                instance = engine.status(run_id)
                assert instance is not None
                status = RunProgress.of(instance.get("customStatus"))
                best = status.best
                progress.update(
                    task,
                    description=status.stage or "starting",
                    total=status.chunks_total,
                    completed=status.chunks_done,
                    best=f"best {request.metric} {best.value:.3f} {best.params}"
                    if best and best.value is not None
                    else "",
                )
                if instance["runtimeStatus"] in TERMINAL:
                    break
                await asyncio.sleep(0.2)
    finally:
        await engine.stop()
    instance["wallSeconds"] = time.perf_counter() - started
    return instance


def print_results(instance: dict[str, Any], request: BacktestRequest, chart: Path | None) -> None:
    store = results_store()
    output = instance["output"]
    summary = json.loads(store.get(output["summary"]))
    for symbol, item in summary["symbols"].items():
        if "leaderboard" not in item:
            console.print_json(data=item)
            continue
        table = Table(title=f"{symbol}: top {len(item['leaderboard'])} by {request.metric}")
        rows = item["leaderboard"]
        names = [c for c in rows[0] if c not in ("combo", "symbol")] if rows else []
        shown = [n for n in names if n in request.spec.grid or n in request.spec.params]
        shown += [request.metric, "totalReturnPct", "maxDrawdownPct", "trades", "winRatePct"]
        shown = list(dict.fromkeys(n for n in shown if n in names))
        for name in ["#", *shown]:
            table.add_column(name, justify="right")
        for rank, row in enumerate(rows, start=1):
            table.add_row(str(rank), *(_cell(row[n]) for n in shown))
        console.print(table)
        files = item.get("files") or {}
        if chart is not None and files.get("chart"):
            write_result_files(read_run(CLI_ACCOUNT, summary["runId"]))
            target = (
                chart if len(summary["symbols"]) == 1 else chart.with_stem(f"{chart.stem}-{symbol}")
            )
            target.write_bytes(store.get(files["chart"]))
            console.print(f"chart: {target}")
    stats = summary["chunkStats"]
    container = get_settings().results_container
    console.print(
        f"{stats['total']} chunks, mean {stats['meanSeconds']:.2f} s, "
        f"max {stats['maxSeconds']:.2f} s; wall {instance['wallSeconds']:.1f} s; results in "
        f"the '{container}' container under runs/{summary['runId']}/"
    )


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


def main(
    axes: list[str] | None = typer.Argument(
        None,
        help="More grid axes after --grid (e.g. --grid fast=5:50:5 slow=20:200:10).",
        show_default=False,
    ),
    symbol: list[str] = typer.Option(
        ..., "--symbol", "-s", help="Symbol(s) in the lake; repeat for more."
    ),
    strategy: str = typer.Option("sma_cross", help="Built-in or registered strategy name."),
    grid: list[str] = typer.Option(
        ..., help="name=start:stop:step or name=a,b,c; several allowed."
    ),
    interval: str = typer.Option("1d", help="Bar interval in the lake."),
    start: str | None = typer.Option(None, help="First day, YYYY-MM-DD."),
    end: str | None = typer.Option(None, help="Last day, YYYY-MM-DD."),
    metric: str = typer.Option(
        "sharpeRatio", help="Leaderboard metric, camelCase (snake_case accepted)."
    ),
    top: int = typer.Option(10, help="Leaderboard size."),
    commission: float = typer.Option(0.0, help="Commission rate per order."),
    direction: str = typer.Option("long_only", help="long_only or long_short."),
    workers: int | None = typer.Option(
        None, help="Activity processes (default BACKTEST_WORKERS or one per core)."
    ),
    chart: Path | None = typer.Option(
        None, help="Also save the best combination's PNG chart here."
    ),
    load_sample: bool = typer.Option(
        False,
        "--load-sample",
        help="First merge the bundled daily bars (GOOG, ^GSPC, ^IXIC).",
    ),
) -> None:
    """Sweep a strategy's grid through the Durable orchestration and print the leaderboard."""
    extra = [*grid, *(axes or [])]
    if load_sample:
        for name in symbol:
            console.print(
                f"loaded {globals()['load_sample'](name.upper())} sample bars as {name.upper()}"
            )
    try:
        request = BacktestRequest(
            symbols=symbol,
            interval=interval,
            start=date.fromisoformat(start) if start else None,
            end=date.fromisoformat(end) if end else None,
            strategy=StrategySpec(strategy=strategy, grid=extra),
            execution=ExecutionSettings(commission=commission, direction=direction),
            metric=metric,
            top_n=top,
        )
        instance = asyncio.run(run(request, workers=workers))
    except DomainError as error:
        console.print(f"[red]error:[/] {error.detail}")
        raise typer.Exit(2) from None
    except ValidationError as error:
        console.print(f"[red]invalid input:[/] {error}")
        raise typer.Exit(2) from None
    if instance["runtimeStatus"] != "Completed":
        console.print(f"[red]run {instance['runtimeStatus']}:[/] {instance['output']}")
        raise typer.Exit(1)
    print_results(instance, request, chart)


if __name__ == "__main__":
    typer.run(main)
