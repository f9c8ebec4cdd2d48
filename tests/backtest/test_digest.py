"""Canonical digests: NaN (any sign or payload) and -0.0 are normalised before hashing, so a
sweep whose chunks travelled as JSON has the digest of the same sweep run in one process."""

from __future__ import annotations

import json

import numpy as np

from shared.backtest import (
    BarsFrame,
    ChunkResult,
    ExecutionSettings,
    StrategySpec,
    aggregate,
    run_chunk,
    run_sweep,
    split_even,
)
from shared.backtest.sweep import canonical_floats

SPEC = StrategySpec(
    strategy="rsi_reversion", grid={"n": [5, 14, 300], "lower": [10, 30], "upper": [70, 95]}
)
EXECUTION = ExecutionSettings(direction="long_short", commission=0.001)


def test_chunks_through_json_digest_like_one_process(goog: BarsFrame) -> None:
    whole = run_sweep(goog, SPEC, EXECUTION)
    assert any(np.isnan(v).any() for v in whole.metrics.values())  # NaN metrics are there
    parts = []
    for chunk in split_even(len(whole), 5):
        text = json.dumps(run_chunk(goog, SPEC, EXECUTION, chunk).to_dict(), allow_nan=False)
        parts.append(ChunkResult.from_dict(json.loads(text)))
    assert aggregate(SPEC, EXECUTION, len(goog), parts).digest() == whole.digest()


def test_nan_payloads_signs_and_negative_zero_hash_alike(goog: BarsFrame) -> None:
    whole = run_sweep(goog, SPEC, EXECUTION)
    digest = whole.digest()
    negative_nan = np.frombuffer(bytes.fromhex("000000000000f8ff"), dtype="<f8")[0]
    payload_nan = np.frombuffer(bytes.fromhex("010000000000f87f"), dtype="<f8")[0]
    for odd in (negative_nan, payload_nan):
        metrics = {k: v.copy() for k, v in whole.metrics.items()}
        nan = np.isnan(metrics["sqn"])
        assert nan.any()
        metrics["sqn"][nan] = odd
        zero = metrics["commissions"] == 0.0
        metrics["commissions"][zero] = -0.0
        whole.metrics = metrics
        assert whole.digest() == digest
    whole.metrics["final_equity"][0] += 1e-9
    assert whole.digest() != digest


def test_canonical_floats() -> None:
    raw = np.array([-0.0, 0.0, np.nan, -np.nan, 1.5, -np.inf])
    out = canonical_floats(raw)
    assert out.tobytes() == np.array([0.0, 0.0, np.nan, np.nan, 1.5, -np.inf]).tobytes()
    assert not np.signbit(out[:4]).any()
