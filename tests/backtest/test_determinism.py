"""A sweep cut into any chunks, run in any order and serialised, aggregates bit-identically."""

from __future__ import annotations

import itertools
import json
import random

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.backtest import (
    BarsFrame,
    Chunk,
    ChunkResult,
    ExecutionSettings,
    StrategySpec,
    aggregate,
    plan_chunks,
    run_chunk,
    run_sweep,
    split_even,
)
from shared.errors import InvalidInput

SPEC = StrategySpec(strategy="sma_cross", grid={"fast": "2:30:2", "slow": "10:120:10"})
EXECUTION = ExecutionSettings(commission=0.001, slippage_bps=2, direction="long_short")


@pytest.fixture(scope="module")
def whole(goog: BarsFrame) -> str:
    return run_sweep(goog, SPEC, EXECUTION).digest()


def _chunks(total: int, cuts: list[int]) -> list[Chunk]:
    bounds = sorted({0, total, *cuts})
    return [Chunk(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(bounds))]


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_any_chunking_any_order_is_bit_identical(goog: BarsFrame, whole: str, data) -> None:
    total = SPEC.n_combinations()
    cuts = data.draw(st.lists(st.integers(1, total - 1), max_size=12))
    chunks = _chunks(total, cuts)
    results = [run_chunk(goog, SPEC, EXECUTION, c) for c in chunks]
    random.Random(data.draw(st.integers(0, 1000))).shuffle(results)
    wire = [
        ChunkResult.from_dict(json.loads(json.dumps(r.to_dict())))
        if k % 2
        else ChunkResult.from_parquet(r.to_parquet())
        for k, r in enumerate(results)
    ]
    assert aggregate(SPEC, EXECUTION, len(goog), wire).digest() == whole


@pytest.mark.parametrize("k", [1, 2, 3, 7, 16, 64])
def test_even_k_chunks_bit_identical(goog: BarsFrame, whole: str, k: int) -> None:
    chunks = split_even(SPEC.n_combinations(), k)
    assert len(chunks) == k
    results = [run_chunk(goog, SPEC, EXECUTION, c) for c in reversed(chunks)]
    assert aggregate(SPEC, EXECUTION, len(goog), results).digest() == whole


def test_thread_count_does_not_change_results(goog: BarsFrame, whole: str) -> None:
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        assert run_sweep(goog, SPEC, EXECUTION).digest() == whole
    finally:
        numba.set_num_threads(before)


def test_json_round_trip_keeps_nan_and_inf_bits() -> None:
    values = np.array([np.nan, np.inf, -np.inf, 0.1 + 0.2, -0.0, 5e-324])
    result = ChunkResult(Chunk(0, 0, 6), {"x": values})
    back = ChunkResult.from_dict(json.loads(json.dumps(result.to_dict(), allow_nan=False)))
    assert back.metrics["x"].tobytes() == values.tobytes()


def test_aggregate_refuses_gaps_and_overlaps(goog: BarsFrame) -> None:
    total = SPEC.n_combinations()
    a = run_chunk(goog, SPEC, EXECUTION, Chunk(0, 0, 10))
    b = run_chunk(goog, SPEC, EXECUTION, Chunk(1, 12, total))
    with pytest.raises(InvalidInput, match="gap or overlap"):
        aggregate(SPEC, EXECUTION, len(goog), [a, b])
    with pytest.raises(InvalidInput, match="cover"):
        aggregate(SPEC, EXECUTION, len(goog), [a])


def test_plan_chunks_covers_the_grid_in_target_sized_pieces() -> None:
    total = SPEC.n_combinations()
    chunks = plan_chunks(SPEC, n_bars=1_000_000, target_seconds=0.5, throughput=1e8)
    assert [c.start for c in chunks] == [0, *[c.stop for c in chunks[:-1]]]
    assert chunks[-1].stop == total
    assert max(len(c) for c in chunks) <= 50
    assert [Chunk.from_dict(json.loads(json.dumps(c.to_dict()))) for c in chunks] == chunks
    assert len(plan_chunks(SPEC, n_bars=100, target_seconds=10)) == 1


@pytest.mark.parametrize(
    ("strategy", "grid"),
    [
        ("ema_cross", {"fast": "3:15:3", "slow": "20:60:20"}),
        ("macd", {"fast": [8, 12], "slow": [26, 30], "signal": [5, 9]}),
        ("rsi_reversion", {"n": [7, 14], "lower": [25, 30], "upper": [70, 75]}),
        ("bollinger_reversion", {"n": [10, 20, 30], "k": [1.5, 2.0]}),
        ("donchian_breakout", {"entry": [10, 20], "exit": [5, 10, 15]}),
    ],
)
def test_every_builtin_is_chunking_invariant(goog: BarsFrame, strategy: str, grid: dict) -> None:
    spec = StrategySpec(strategy=strategy, grid=grid)
    execution = ExecutionSettings(direction="long_short", take_profit_pct=15, stop_loss_pct=6)
    whole = run_sweep(goog, spec, execution).digest()
    total = spec.n_combinations()
    for k in (2, total):
        parts = [run_chunk(goog, spec, execution, c) for c in split_even(total, k)]
        assert aggregate(spec, execution, len(goog), parts[::-1]).digest() == whole
