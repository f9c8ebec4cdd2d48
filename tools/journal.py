"""The journal from the command line, e.g.

    python -m tools.journal import flex.csv --format ibkr_flex --account alice
    python -m tools.journal stats --account alice --from 2024-01-01

`import` takes the same path as `POST /api/journal/imports` (shared.journal.imports) against
the configured storage, with a progress bar; a file with bad rows is rejected whole and
every bad row is listed.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.errors import DomainError
from shared.journal import analytics
from shared.journal.imports import FORMATS, ImportRejected, ImportRequest, import_file, parse
from shared.journal.service import journal_of

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)
console = Console(stderr=True)


@app.command("import")
def import_command(
    path: Path = typer.Argument(..., exists=True, dir_okay=False, help="The broker file"),
    format: str = typer.Option(..., "--format", "-f", help=f"One of {', '.join(FORMATS)}"),
    account: str = typer.Option(..., "--account", "-a", help="The journal's account id"),
    broker_account: str | None = typer.Option(
        None, "--broker-account", "-b", help="For files that do not name the account"
    ),
    tz: str | None = typer.Option(None, "--tz", help="IANA zone of times written without one"),
) -> None:
    """Import PATH into ACCOUNT's journal."""
    if format not in FORMATS:
        raise typer.BadParameter(
            f"{format!r} is not one of {', '.join(FORMATS)}", param_hint="--format"
        )
    try:
        request = ImportRequest.model_validate(
            {
                "format": format,
                "content": path.read_text(encoding="utf-8-sig"),
                "filename": path.name,
                "brokerAccount": broker_account,
                "tz": tz,
            }
        )
        total = len(parse(request).executions)
        columns = (
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task(path.name, total=total)
            result = import_file(
                journal_of(account),
                request,
                progress=lambda done: progress.update(task, completed=done),
            )
    except ImportRejected as rejected:
        table = Table(title=f"{rejected.total} bad row(s); nothing imported")
        for name in ("line", "column", "problem"):
            table.add_column(name)
        for error in rejected.errors:
            table.add_row(str(error.line), error.column, error.message)
        console.print(table)
        raise typer.Exit(1) from None
    except (DomainError, ValueError) as error:
        console.print(f"[red]{getattr(error, 'detail', error)}")
        raise typer.Exit(1) from None
    console.print(
        f"{result.filename}: {result.rows} rows, {result.added} added, "
        f"{result.duplicates} already there, {result.skipped} skipped; "
        f"accounts {', '.join(result.broker_accounts)}; currencies {result.currencies}"
    )


@app.command()
def stats(
    account: str = typer.Option(..., "--account", "-a"),
    start: str | None = typer.Option(None, "--from", help="First close date, YYYY-MM-DD"),
    end: str | None = typer.Option(None, "--to", help="Last close date, YYYY-MM-DD"),
    tz: str = typer.Option("UTC", "--tz"),
) -> None:
    """Print ACCOUNT's statistics."""
    try:
        query = analytics.JournalFilter.model_validate({"from": start, "to": end, "tz": tz})
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    result = analytics.stats(journal_of(account).frame(), query)
    table = Table(title=f"journal of {account}")
    table.add_column("statistic")
    table.add_column("value", justify="right")
    for name, value in result.model_dump(by_alias=True, exclude={"r_distribution"}).items():
        table.add_row(name, f"{value:,.4g}" if isinstance(value, float) else str(value))
    Console().print(table)


if __name__ == "__main__":
    app()
