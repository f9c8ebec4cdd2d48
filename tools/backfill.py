"""Backfill daily bars into the lake, e.g.

    python -m tools.backfill --symbols AAPL,MSFT --start 2020-01-01 --end 2024-12-31

The same path as `POST /api/ops/backfill` (shared.ingest.sync.Ingestor.backfill), but the CLI
waits for quota tokens instead of deferring, and shows a progress bar.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.config import SettingsError, get_settings
from shared.errors import DomainError
from shared.ingest.sync import (
    Ingestor,
    Outcome,
    backfill_request_symbols,
    backfill_window,
)
from shared.market.models import INGEST_PROVIDERS

app = typer.Typer(add_completion=False, help=__doc__)
console = Console(stderr=True)


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD", param_hint=name
        ) from None


@app.command()
def main(
    symbols: str = typer.Option(..., "--symbols", "-s", help="Comma-separated, e.g. AAPL,BTC-USD"),
    start: str = typer.Option(..., "--start", help="First day, YYYY-MM-DD"),
    end: str = typer.Option(
        date.today().isoformat(), "--end", help="Last day (inclusive), YYYY-MM-DD"
    ),
    interval: str = typer.Option(
        "1d", "--interval", "-i", help="1d, or intraday 1m/5m/15m/30m/60m (recent days only)"
    ),
    provider: str | None = typer.Option(
        None,
        "--provider",
        "-p",
        help=f"One of {', '.join(INGEST_PROVIDERS)}; default picks per symbol",
    ),
    wait: float = typer.Option(
        90.0, "--wait", help="Longest wait (s) for a provider quota token per call"
    ),
) -> None:
    """Backfill bars of INTERVAL for SYMBOLS over [START, END] into the lake."""
    first, last = _day(start, "--start"), _day(end, "--end")
    try:
        first, last = backfill_window(first, last)
    except DomainError as error:
        raise typer.BadParameter(error.detail, param_hint="--start") from None
    if provider is not None and provider not in INGEST_PROVIDERS:
        raise typer.BadParameter(
            f"use one of {', '.join(INGEST_PROVIDERS)}", param_hint="--provider"
        )
    logging.basicConfig(level=logging.ERROR)
    try:
        wanted = backfill_request_symbols(symbols, limit=1000)
        ingestor = Ingestor.from_settings(get_settings())
    except (SettingsError, DomainError) as error:
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None

    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("backfill", total=len(wanted))

        def advance(outcome: Outcome) -> None:
            progress.update(task, advance=1, description=f"{outcome.symbol} {outcome.status}")

        try:
            report = ingestor.backfill(
                wanted,
                first,
                last,
                interval=interval,
                provider=provider,
                max_wait=wait,
                progress=advance,
                as_of=datetime.now(UTC).replace(microsecond=0),
            )
        except DomainError as error:
            console.print(f"[red]error:[/red] {error.detail}")
            raise typer.Exit(1) from None

    table = Table("symbol", "status", "rows in", "rows written", "error")
    for o in report.outcomes:
        table.add_row(o.symbol, o.status, str(o.rows_in), str(o.rows_written), o.error or "")
    out = Console()
    out.print(table)
    for o in report.outcomes:
        if o.error:
            out.print(f"{o.symbol} {o.status}: {o.error}", soft_wrap=True, markup=False)
    totals = report.as_dict()
    out.print(
        f"{totals['ok']} ok, {totals['noData']} no data, {totals['failed']} failed, "
        f"{totals['deferred']} deferred; {totals['rowsWritten']} rows written, "
        f"{totals['partitionsChanged']} partitions changed"
    )
    if report.count("failed") or report.count("deferred"):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
