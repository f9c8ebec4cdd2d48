"""Timer functions: one per provider, the CoinGecko heartbeat and the offline sample."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import datetime

import azure.functions as func

from shared import telemetry
from shared.config import get_settings
from shared.ingest.sync import Ingestor, RunReport, timer_as_of

bp = func.Blueprint()
log = logging.getLogger("functions.ingest")


async def _run(name: str, schedule: str, job: Callable[[Ingestor, datetime], RunReport]) -> None:
    with telemetry.invocation(name):
        report = await asyncio.to_thread(
            job, Ingestor.from_settings(get_settings()), timer_as_of(schedule)
        )
        _record(report)


def _record(report: RunReport) -> None:
    for outcome in report.outcomes:
        telemetry.record_ingestion(report.provider, outcome.status, rows=outcome.rows_written)
    for (symbol, _interval), latest in report.merge.last_ts.items():
        telemetry.record_freshness(symbol, latest, provider=report.provider)
    summary = report.as_dict()
    summary.pop("outcomes")
    log.info("ingest %s", json.dumps(summary, sort_keys=True))


@bp.function_name("ingest_alphavantage")
@bp.timer_trigger(arg_name="timer", schedule="%SCHEDULE_ALPHAVANTAGE%", use_monitor=True)
async def ingest_alphavantage(timer: func.TimerRequest) -> None:
    await _run(
        "ingest_alphavantage",
        get_settings().schedule_alphavantage,
        lambda i, a: i.sync_alphavantage(a),
    )


@bp.function_name("ingest_yahoo")
@bp.timer_trigger(arg_name="timer", schedule="%SCHEDULE_YAHOO%", use_monitor=True)
async def ingest_yahoo(timer: func.TimerRequest) -> None:
    await _run("ingest_yahoo", get_settings().schedule_yahoo, lambda i, a: i.sync_yahoo(a))


@bp.function_name("ingest_coingecko")
@bp.timer_trigger(arg_name="timer", schedule="%SCHEDULE_COINGECKO%", use_monitor=True)
async def ingest_coingecko(timer: func.TimerRequest) -> None:
    await _run(
        "ingest_coingecko", get_settings().schedule_coingecko, lambda i, a: i.sync_coingecko(a)
    )


@bp.function_name("coingecko_ping")
@bp.timer_trigger(arg_name="timer", schedule="%SCHEDULE_COINGECKO_PING%", use_monitor=False)
async def coingecko_ping(timer: func.TimerRequest) -> None:
    await _run(
        "coingecko_ping", get_settings().schedule_coingecko_ping, lambda i, a: i.ping_coingecko(a)
    )


@bp.function_name("ingest_sample")
@bp.timer_trigger(
    arg_name="timer", schedule="%SCHEDULE_SAMPLE%", run_on_startup=True, use_monitor=False
)
async def ingest_sample(timer: func.TimerRequest) -> None:
    await _run("ingest_sample", get_settings().schedule_sample, lambda i, a: i.sync_sample(a))
