"""The demo journal: a sample broker file (IB Flex Query trades CSV) built from the bundled
real daily prices (shared.providers.sample), imported into a demo account by `make run`.

The prices are real (each bar's open and close); the trades are not anyone's: on a fixed
pseudo-random subset of days the sample trader enters at the open in the direction of the
last five closes and exits at that day's close, or holds a few days and exits at a later
close. The file is named `sample-ibkr-flex.csv` and its account `SAMPLE-IB`, and the
dashboard labels a journal holding it as sample data.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from shared.journal.imports import ImportRequest, ImportResult, import_file
from shared.journal.models import AnnotationIn
from shared.journal.store import Journal

log = logging.getLogger("shared.journal.sample")

DEMO_ACCOUNT = "alice"
FILENAME = "sample-ibkr-flex.csv"
BROKER_ACCOUNT = "SAMPLE-IB"
DAYS = 250
NEW_YORK = ZoneInfo("America/New_York")
HEADER = (
    "ClientAccountID", "CurrencyPrimary", "FXRateToBase", "AssetClass", "Symbol", "Multiplier",
    "TradeID", "IBExecID", "DateTime", "Buy/Sell", "Quantity", "TradePrice", "IBCommission",
    "IBCommissionCurrency", "LevelOfDetail",
)  # fmt: skip
SIZES = {"GOOG": (10, 60), "^GSPC": (1, 5), "^IXIC": (1, 5)}


def _stamp(day: pd.Timestamp, at: time) -> str:
    local = datetime.combine(day.date(), at, tzinfo=NEW_YORK)
    return local.strftime("%Y%m%d;%H%M%S")


def sample_file(seed: int = 2024) -> str:
    """The sample broker file's text (deterministic)."""
    from shared.providers.sample import DATASETS

    rng = np.random.default_rng(seed)
    rows: list[tuple[str, ...]] = []
    number = 0
    loaded: dict[str, pd.DataFrame] = {}
    for dataset in DATASETS:
        if dataset.symbol not in SIZES:
            continue
        try:
            loaded[dataset.symbol] = dataset.load()
        except (ImportError, OSError) as error:
            log.info("sample journal: %s skipped (%s)", dataset.symbol, error)
    # One common year for every symbol: the last DAYS sessions all of them have.
    last = min((frame.index[-1] for frame in loaded.values()), default=None)
    for symbol, frame in loaded.items():
        bars = frame[frame.index <= last].tail(DAYS + 5)
        closes = bars["close"].to_numpy(dtype=float)
        opens = bars["open"].to_numpy(dtype=float)
        index = bars.index
        low, high = SIZES[symbol]
        day = 5
        while day < len(bars) - 1:
            if rng.random() < 0.45:
                day += 1
                continue
            long = closes[day - 1] > closes[day - 5 : day].mean()
            hold = 0 if rng.random() < 0.7 else int(rng.integers(1, 4))
            exit_day = min(day + hold, len(bars) - 1)
            qty = int(rng.integers(low, high + 1))
            entry_time = (
                datetime.combine(index[day].date(), time(9, 30))
                + timedelta(seconds=int(rng.integers(0, 600)))
            ).time()
            exit_time = time(15, 59, int(rng.integers(0, 60)))
            sides = ("BUY", "SELL") if long else ("SELL", "BUY")
            legs = ((sides[0], opens[day], index[day], entry_time),
                    (sides[1], closes[exit_day], index[exit_day], exit_time))  # fmt: skip
            for side, price, when, at in legs:
                number += 1
                signed = qty if side == "BUY" else -qty
                rows.append(
                    (
                        BROKER_ACCOUNT,
                        "USD",
                        "1",
                        "STK",
                        symbol,
                        "1",
                        f"{number}",
                        f"sample.{number:06d}",
                        _stamp(when, at),
                        side,
                        str(signed),
                        f"{price:.2f}",
                        "-1.00",
                        "USD",
                        "EXECUTION",
                    )
                )
            day = exit_day + 1
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue()


def seed_demo(journal: Journal) -> ImportResult:
    """Import the sample file into `journal` (a re-run adds nothing) and annotate its
    trades that have no annotation yet."""
    result = import_file(
        journal, ImportRequest(format="ibkr_flex", content=sample_file(), filename=FILENAME)
    )
    trades = [t for t in journal.trades() if t.broker_account == BROKER_ACCOUNT]
    present = journal.annotations([t.id for t in trades])
    notes: dict[str, AnnotationIn] = {}
    for trade in trades:
        if trade.id in present or trade.closed_at is None:
            continue
        swing = (trade.holding_seconds or 0) > 86_400
        stop = trade.entry_price * (0.99 if trade.side == "long" else 1.01)
        notes[trade.id] = AnnotationIn(
            notes="Sample trade (generated from real daily prices).",
            tags=["sample", "swing" if swing else "intraday"],
            setup="Swing momentum" if swing else "Open-to-close momentum",
            planned_stop=round(stop, 2),
        )
    if notes:
        journal.annotate_many(notes)
    log.info(
        "sample journal of %s: %d executions added, %d annotated",
        journal.account,
        result.added,
        len(notes),
    )
    return result
