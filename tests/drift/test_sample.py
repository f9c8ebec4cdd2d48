"""The README's example report: the sample journal against sma_cross on the bundled GOOG
bars (the figures the README quotes)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from shared.auth.caller import Caller
from shared.drift import CAUSES, DriftRequest, drift_report
from shared.ingest.bars import BarLake
from shared.journal.sample import BROKER_ACCOUNT, seed_demo
from shared.journal.service import journal_of
from shared.market.models import Bar
from shared.providers.sample import DATASETS
from shared.storage.factory import lake


def test_the_sample_journal_against_sma_cross():
    try:
        frame = next(d for d in DATASETS if d.symbol == "GOOG").load()
    except (ImportError, OSError) as error:  # the sample journal skips GOOG the same way
        pytest.skip(f"bundled GOOG prices unavailable: {error}")
    bars = [
        Bar(
            symbol="GOOG", interval="1d", ts=ts.to_pydatetime().replace(tzinfo=UTC),
            open=row.open, high=row.high, low=row.low, close=row.close, source="yahoo",
        )
        for ts, row in frame.iterrows()
    ]  # fmt: skip
    BarLake(lake()).merge(bars, ingested_at=datetime.now(UTC))
    journal = journal_of("alice")
    seed_demo(journal)
    request = DriftRequest.model_validate(
        {
            "strategy": "sma_cross", "params": "fast=10,slow=30", "symbols": "GOOG",
            "start": "2007-10-01", "end": "2008-10-31", "brokerAccount": BROKER_ACCOUNT,
            "commission": "0.001",
        }
    )  # fmt: skip
    report = drift_report(request, Caller("alice", frozenset({"viewer"})), journal)
    exact = {k: Decimal(v) for k, v in report.exact.items()}
    assert (exact["strategyPnl"], exact["traderPnl"]) == (Decimal("921.41495"), Decimal("715.9"))
    assert [exact[c] for c in CAUSES] == [
        Decimal(v) for v in ("416.27278", "438.55", "741.1", "-1735.84", "-100.64", "35.04227")
    ]
    assert sum(exact[c] for c in CAUSES) == exact["difference"] == Decimal("-205.51495")
    assert (len(report.pairs), len(report.missed), len(report.extra)) == (2, 1, 102)
