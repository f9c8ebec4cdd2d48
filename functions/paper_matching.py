"""Paper matching triggers: a pass for the symbols of every quote written (the Cosmos change
feed of `quotes`) and a full pass on SCHEDULE_PAPER_MATCHING (expiry, missed changes)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping

import azure.functions as func

from shared import telemetry
from shared.config import get_settings
from shared.ingest.state import QUOTES
from shared.paper import PaperBroker
from shared.storage.factory import document_store

log = logging.getLogger("functions.paper")

bp = func.Blueprint()

LEASES = "leases"
"""The change-feed trigger's lease container (partition key /id; provisioned in bicep)."""
QUOTE_FEED_POLL_MS = 2000
"""How often the trigger reads the change feed when it is idle (the host's default is 5 s)."""
MAX_QUOTES_PER_INVOCATION = 100
ORPHAN_SWEEP_SECONDS = 600.0
_last_orphan_sweep = float("-inf")


def _broker() -> PaperBroker:
    return PaperBroker(document_store(), get_settings())


def quoted_symbols(documents: Iterable[Mapping[str, object]]) -> list[str]:
    """The symbols of changed quote documents (`quote_document`: id = pk = symbol)."""
    return sorted({str(doc["symbol"]) for doc in documents if isinstance(doc.get("symbol"), str)})


@bp.function_name("paper_matching_quotes")
@bp.cosmos_db_trigger(
    arg_name="documents",
    connection="COSMOS",
    database_name="%COSMOS_DATABASE%",
    container_name=QUOTES,
    lease_container_name=LEASES,
    create_lease_container_if_not_exists=False,
    feed_poll_delay=QUOTE_FEED_POLL_MS,
    max_items_per_invocation=MAX_QUOTES_PER_INVOCATION,
)
async def paper_matching_quotes(documents: func.DocumentList) -> None:
    symbols = quoted_symbols(documents)
    if not symbols:
        return
    with telemetry.invocation("paper_matching_quotes", symbols=len(symbols)):
        report = await asyncio.to_thread(_broker().match, symbols)
        if report.filled or report.rejected:
            log.info("paper matching after quotes of %s: %s", symbols[:5], report.model_dump_json())


@bp.function_name("paper_matching_timer")
@bp.timer_trigger(schedule="%SCHEDULE_PAPER_MATCHING%", arg_name="timer", run_on_startup=False)
async def paper_matching_timer(timer: func.TimerRequest) -> None:
    global _last_orphan_sweep
    with telemetry.invocation("paper_matching_timer"):
        broker = _broker()
        report = await asyncio.to_thread(broker.match)
        if report.filled or report.expired or report.rejected:
            log.info("paper matching: %s", report.model_dump_json())
        if time.monotonic() - _last_orphan_sweep >= ORPHAN_SWEEP_SECONDS:
            _last_orphan_sweep = time.monotonic()
            await asyncio.to_thread(broker.release_orphans)
