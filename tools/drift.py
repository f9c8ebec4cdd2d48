"""`python -m tools.drift`: the drift report of a journal scope from the command line, e.g.

    python -m tools.drift --symbol GOOG --strategy sma_cross --params fast=10,slow=30 \\
        --start 2007-10-01 --end 2008-10-31 --broker-account SAMPLE-IB --commission 0.001 \\
        --load-sample

The same report as `GET /api/journal/drift` (`shared.drift.drift_report`) on the configured
storage (LOCAL_DATA_DIR). `--load-sample` first merges the bundled daily bars of each symbol
into the lake and seeds the sample journal (account `alice`, broker account `SAMPLE-IB`), as
the local host's sample timers do. `--json` prints the report as the API returns it.
Exit code 2: invalid input (the message names it).
"""

from __future__ import annotations

import json

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from shared.auth.caller import Caller
from shared.drift import CAUSES, DriftReport, DriftRequest, drift_report
from shared.errors import DomainError
from shared.journal.sample import DEMO_ACCOUNT, seed_demo
from shared.journal.service import journal_of

console = Console(width=160)
app = typer.Typer(add_completion=False)


def print_report(report: DriftReport, account: str) -> None:
    params = ",".join(f"{k}={v}" for k, v in report.params.items())
    console.print(
        f"{report.strategy} {params} on {', '.join(report.symbols)} {report.start}..{report.end}, "
        f"broker account {report.broker_account} of {account}"
    )
    used = report.execution.model_dump()
    console.print(
        "execution: "
        + ", ".join(
            f"{name} {used[snake]} ({source})"
            for name, source in report.execution_sources.items()
            if (snake := _snake(name)) in used and used[snake] is not None
        )
    )
    tolerance = ", ".join(f"{s} {t:g} s" for s, t in report.tolerance_seconds.items())
    console.print(
        f"matched {len(report.pairs)}, missed {len(report.missed)}, extra {len(report.extra)} "
        f"(tolerance {tolerance})"
    )
    exact = report.exact
    table = Table(title="By cause (trader - strategy)")
    table.add_column("")
    table.add_column("amount", justify="right")
    table.add_row("strategy P&L", exact["strategyPnl"])
    for cause in CAUSES:
        table.add_row(f"  {cause}", exact[cause])
    table.add_row("trader P&L", exact["traderPnl"])
    table.add_row("difference", exact["difference"], style="bold")
    console.print(table)
    if report.pairs:
        pairs = Table(title="Matched pairs (trader minus strategy)")
        for column in ("side", "strategy in", "strategy out", "trader in", "trader out",
                       "delay bars", "qty S/J", "slippage", "fees S/J", "difference"):  # fmt: skip
            pairs.add_column(column, justify="right")
        for p in report.pairs:
            s, j = p.strategy, p.trader
            pairs.add_row(
                s.side,
                f"{s.entered_at:%y-%m-%d} {s.entry_price:.2f}",
                f"{s.exited_at:%y-%m-%d} {s.exit_price:.2f}",
                f"{j.entered_at:%y-%m-%d %H:%M} {j.entry_price:.2f}",
                f"{j.exited_at:%y-%m-%d %H:%M} {j.exit_price:.2f}",
                f"{p.entry_delay_bars:+d} / {p.exit_delay_bars:+d}",
                f"{s.quantity:g} / {j.quantity:g}",
                f"{p.entry_slippage:+.2f} / {p.exit_slippage:+.2f}",
                f"{s.fees:.2f} / {j.fees:.2f}",
                f"{p.pnl_difference:.2f}",
            )
        console.print(pairs)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


@app.command()
def main(
    symbol: list[str] = typer.Option(..., help="A symbol (repeat for more)."),
    strategy: str = typer.Option(..., help="Registered strategy name, e.g. sma_cross."),
    params: str = typer.Option("", help="Its parameters, e.g. fast=10,slow=30."),
    start: str = typer.Option(..., help="First day, YYYY-MM-DD."),
    end: str = typer.Option(..., help="Last day, YYYY-MM-DD."),
    broker_account: str = typer.Option("default", help="The journal's broker account."),
    account: str = typer.Option(DEMO_ACCOUNT, help="Whose journal."),
    interval: str = typer.Option("1d", help="Bar interval in the lake."),
    commission: float | None = typer.Option(None, help="Override the account's commission."),
    slippage_bps: float | None = typer.Option(None, help="Override the account's slippage."),
    tolerance_bars: int = typer.Option(1, help="Matching tolerance in bars."),
    load_sample: bool = typer.Option(
        False, "--load-sample", help="First load the bundled bars and seed the sample journal."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as the API's JSON."),
) -> None:
    """Print the drift report of a journal scope against a strategy's replay."""
    if load_sample:
        from tools.backtest import load_sample as load_bars

        for name in symbol:
            console.print(f"loaded {load_bars(name.upper())} sample bars as {name.upper()}")
        seeded = seed_demo(journal_of(DEMO_ACCOUNT))
        console.print(f"sample journal of {DEMO_ACCOUNT}: {seeded.added} new executions")
    query: dict[str, object] = {
        "strategy": strategy, "params": params, "symbols": ",".join(symbol), "start": start,
        "end": end, "brokerAccount": broker_account, "interval": interval,
        "toleranceBars": tolerance_bars, "commission": commission, "slippageBps": slippage_bps,
    }  # fmt: skip
    try:
        request = DriftRequest.model_validate({k: v for k, v in query.items() if v is not None})
        report = drift_report(request, Caller(account, frozenset({"viewer"})), journal_of(account))
    except DomainError as error:
        console.print(f"[red]error:[/] {error.detail}")
        raise typer.Exit(2) from None
    except ValidationError as error:
        console.print(f"[red]invalid input:[/] {error}")
        raise typer.Exit(2) from None
    if as_json:
        print(json.dumps(report.model_dump(mode="json", by_alias=True), indent=1))
    else:
        print_report(report, account)


if __name__ == "__main__":
    app()
