"""write_results into a real (local) blob store; walk-forward windows and evaluation."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared.backtest import (
    BarsFrame,
    ExecutionSettings,
    StrategySpec,
    WalkForwardWindow,
    evaluate_window,
    plan_walk_forward,
    run_backtest,
    run_sweep,
    walk_forward,
    write_results,
)
from shared.errors import InvalidInput
from shared.storage.blob_local import LocalBlobStore

EXECUTION = ExecutionSettings(commission=0.001)


@pytest.fixture
def store(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(
        tmp_path / "blobs", "results", signing_key="k", public_base_url="http://127.0.0.1:1"
    )


def test_write_results_writes_every_artefact(goog: BarsFrame, store: LocalBlobStore) -> None:
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "5:20:5", "slow": "30:90:30"})
    sweep = run_sweep(goog, spec, EXECUTION)
    refs = write_results(sweep, goog, store, "run-1", top_n=3, metric="sharpe_ratio", curves=2)
    assert refs.leaderboard == "run-1/GOOG/leaderboard.json"
    board = json.loads(store.get(refs.leaderboard))
    assert board["metric"] == "sharpeRatio"
    assert "sharpe_ratio" not in board["rows"][0]
    assert [row["sharpeRatio"] for row in board["rows"]] == sorted(
        sweep.metrics["sharpe_ratio"], reverse=True
    )[:3]
    table = pd.read_parquet(io.BytesIO(store.get(refs.metrics)))
    assert len(table) == len(sweep) == 12
    assert np.array_equal(table["final_equity"].to_numpy(), sweep.metrics["final_equity"])
    equity = pd.read_parquet(io.BytesIO(store.get(refs.equity)))
    assert sorted(equity["rank"].unique()) == [1, 2]
    assert (equity.groupby("rank").size() == len(goog)).all()
    trades = pd.read_parquet(io.BytesIO(store.get(refs.trades)))
    best = run_backtest(goog, "sma_cross", refs.summary["best_params"], EXECUTION)
    assert len(trades[trades["rank"] == 1]) == len(best.trades)
    assert refs.heatmap is not None
    heat = pd.read_parquet(io.BytesIO(store.get(refs.heatmap)))
    assert list(heat.columns) == ["fast", "30", "60", "90"]
    assert len(heat) == 4
    assert store.get(refs.chart)[:8] == b"\x89PNG\r\n\x1a\n"
    assert refs.summary["best_value"] == max(sweep.metrics["sharpe_ratio"])
    assert json.loads(json.dumps(refs.to_dict()))["chart"] == refs.chart


def test_walk_forward_windows_tile_the_test_periods() -> None:
    windows = plan_walk_forward(1000, train_bars=300, test_bars=200)
    assert [(w.train_start, w.train_stop, w.test_start, w.test_stop) for w in windows] == [
        (0, 300, 300, 500),
        (200, 500, 500, 700),
        (400, 700, 700, 900),
        (600, 900, 900, 1000),
    ]
    anchored = plan_walk_forward(1000, train_bars=300, test_bars=400, anchored=True)
    assert [(w.train_start, w.train_stop) for w in anchored] == [(0, 300), (0, 700)]
    assert WalkForwardWindow.from_dict(json.loads(json.dumps(windows[1].to_dict()))) == windows[1]
    with pytest.raises(InvalidInput, match="too few"):
        plan_walk_forward(100, train_bars=100, test_bars=10)


def test_out_of_sample_runs_the_in_sample_best_on_test_bars_only(goog: BarsFrame) -> None:
    spec = StrategySpec(strategy="sma_cross", grid={"fast": [5, 10], "slow": [20, 40]})
    window = plan_walk_forward(len(goog), train_bars=800, test_bars=400)[0]
    in_sample = run_sweep(goog.slice(window.train_start, window.train_stop), spec, EXECUTION)
    result = evaluate_window(goog, spec, EXECUTION, window, in_sample, "sharpe_ratio")
    assert result.in_sample["sharpe_ratio"] == max(in_sample.metrics["sharpe_ratio"])
    assert result.equity is not None
    assert len(result.equity) == window.test_stop - window.test_start
    test_only = run_backtest(
        goog.slice(window.test_start, window.test_stop), "sma_cross", result.params, EXECUTION
    )
    # warmed-up indicators may trade from the first test bar; a cold start cannot
    assert result.out_of_sample["trades"] >= test_only.metrics["trades"] - 1
    assert result.equity[0] == EXECUTION.cash or result.equity[0] > 0
    report = walk_forward(
        goog, spec, EXECUTION, plan_walk_forward(len(goog), train_bars=800, test_bars=400)
    )
    assert len(report.windows) == 4
    chained = 1.0
    for w in report.windows:
        chained *= 1 + w.out_of_sample["total_return_pct"] / 100
    assert report.out_of_sample["total_return_pct"] == pytest.approx((chained - 1) * 100)
    assert json.loads(json.dumps(report.windows[0].to_dict()))["params"] == report.windows[0].params
