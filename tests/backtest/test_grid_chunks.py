"""A chunk derives only its own combinations: the plan records each chunk's range in the raw
(unfiltered, mixed-radix) grid, and the chunk decodes that range and applies the strategy's
relations. Properties (hypothesis, fixed budget): for random grids of every built-in and random
cuts, the chunks' combinations concatenated are `spec.combinations()` and an itertools.product
reference, in order; the same for a rule given as a Python predicate; neither the plan nor a
chunk enumerates the whole grid."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.backtest import StrategySpec, plan_chunks
from shared.backtest.runs.messages import ChunkRange
from shared.backtest.spec import TRUSTED
from shared.backtest.strategies import get_strategy
from shared.backtest.strategies import grid as grid_module
from shared.backtest.strategies.grid import Grid
from shared.backtest.sweep import Chunk, chunk_combinations, locate_chunks, split_even
from shared.errors import InvalidInput, NoValidCombination
from tests.backtest.peers import BUILT_INS

BUDGET = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@st.composite
def specs(draw: st.DrawFn) -> StrategySpec:
    """A built-in with a random subset of its parameters swept over short random lists
    (unordered, so relations cut the raw grid irregularly)."""
    name = draw(st.sampled_from(BUILT_INS))
    grid: dict[str, list[Any]] = {}
    for param in get_strategy(name).declaration().params:
        if not draw(st.booleans()):
            continue
        low = int(param.ge or 0) + (1 if param.kind == "int" and (param.ge or 0) < 1 else 0)
        values: st.SearchStrategy[int | float] = st.integers(low, low + 12)
        if param.kind == "float":
            values = st.integers(0, 40).map(lambda n: n / 2 + low)  # noqa: B023 (drawn now)
        grid[param.name] = draw(st.lists(values, min_size=1, max_size=6, unique=True))
    return StrategySpec(strategy=name, grid=grid)


def reference(spec: StrategySpec) -> list[dict[str, Any]]:
    """The valid combinations by itertools.product and Python comparisons (not this code)."""
    strategy = get_strategy(spec.strategy)
    axes = strategy.axes(spec)
    names = list(axes)
    rows = (dict(zip(names, row, strict=True)) for row in itertools.product(*axes.values()))
    return [c for c in rows if strategy.declaration().holds(c)]


def cuts(total: int, data: st.DataObject) -> list[Chunk]:
    """Contiguous chunks covering [0, total) at random bounds (some empty)."""
    inner = data.draw(st.lists(st.integers(0, total), max_size=6))
    bounds = [0, *sorted(inner), total]
    return [Chunk(i, a, b) for i, (a, b) in enumerate(itertools.pairwise(bounds))]


@BUDGET
@given(spec=specs(), data=st.data())
def test_chunks_concatenated_are_the_grid(spec: StrategySpec, data: st.DataObject) -> None:
    expected = reference(spec)
    total = get_strategy(spec.strategy).count_combinations(spec)
    assert total == len(expected)
    if total == 0:
        with pytest.raises(NoValidCombination):
            spec.n_combinations()
        return
    assert spec.combinations() == expected
    for chunks in (
        cuts(total, data),
        split_even(total, data.draw(st.integers(1, total + 2))),
    ):
        located = locate_chunks(spec, chunks)
        assert located[-1].raw_stop == spec.grid_size()
        for a, b in itertools.pairwise(located):
            assert a.raw_stop == b.raw_start
        # through the message the plan sends, as JSON
        sent = [
            ChunkRange.model_validate(json.loads(ChunkRange.of(c).model_dump_json())).chunk()
            for c in located
        ]
        assert sent == located
        derived = [combo for c in sent for combo in chunk_combinations(spec, c)]
        assert derived == expected
        assert [[type(v) for v in c.values()] for c in derived] == [
            [type(v) for v in c.values()] for c in expected
        ]


@BUDGET
@given(
    sizes=st.lists(st.integers(1, 7), min_size=0, max_size=4),
    modulus=st.integers(1, 5),
    data=st.data(),
)
def test_a_python_predicate_locates_and_decodes_the_same(
    sizes: list[int], modulus: int, data: st.DataObject
) -> None:
    """A registered class's own `valid` (a predicate, not relations) goes the same way; a
    small block makes blocks and chunk ranges straddle each other."""
    axes: dict[str, list[int | float]] = {
        f"p{k}": [k * 100 + v for v in range(n)] for k, n in enumerate(sizes)
    }

    def keep(combo: dict[str, Any]) -> bool:
        return sum(combo.values()) % modulus == 0

    rows = [dict(zip(axes, r, strict=True)) for r in itertools.product(*axes.values())]
    expected = [c for c in rows if keep(c)]
    block = data.draw(st.integers(1, 9))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grid_module, "BLOCK", block)
        grid = Grid(axes, valid=keep)
        assert grid.count() == len(expected)
        bounds = sorted({0, len(expected), *data.draw(st.lists(st.integers(0, len(expected))))})
        raw = grid.locate(bounds)
        assert raw[-1] == grid.raw_size
        assert [c for a, b in itertools.pairwise(raw) for c in grid.combinations(a, b)] == expected


def test_neither_the_plan_nor_a_chunk_enumerates_the_grid(monkeypatch: pytest.MonkeyPatch) -> None:
    """With `StrategySpec.combinations` (the whole grid) made to fail, a 998,001-combination
    raw grid is still planned in chunks of about 1,000 and a chunk in its middle derives its
    own."""
    big = {"strategy": "sma_cross", "grid": {"fast": "2:1000", "slow": "2:1000"}}
    spec = StrategySpec.model_validate(big, context=TRUSTED)  # above BACKTEST_MAX_GRID_SIZE

    def whole_grid(self: StrategySpec) -> list[Any]:
        raise AssertionError("enumerated the whole grid")

    monkeypatch.setattr(StrategySpec, "combinations", whole_grid)
    chunks = plan_chunks(spec, n_bars=10_000, target_seconds=1.0, throughput=1.0e7)
    total = 999 * 998 // 2
    assert sum(len(c) for c in chunks) == total
    assert {len(c) for c in chunks} <= {999, 1_000}
    middle = chunks[len(chunks) // 2]
    combos = chunk_combinations(spec, middle)
    assert len(combos) == len(middle)
    assert all(2 <= c["fast"] < c["slow"] <= 1000 for c in combos)
    pairs = [(c["fast"], c["slow"]) for c in combos]
    assert pairs == sorted(pairs)  # fast-major order, as itertools.product


def test_a_range_that_does_not_match_its_grid_is_refused() -> None:
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "2:10", "slow": "2:10"})
    with pytest.raises(InvalidInput, match=r"chunk 4: raw grid range 0\.\.9 holds 8 valid"):
        chunk_combinations(spec, Chunk(4, 0, 5, raw_start=0, raw_stop=9))


def test_an_unlocated_chunk_still_slices_the_grid() -> None:
    """A chunk message without a raw range (planned before it existed) takes its slice."""
    spec = StrategySpec(strategy="sma_cross", grid={"fast": "2:10", "slow": "2:10"})
    chunk = ChunkRange.model_validate({"index": 0, "start": 3, "stop": 7}).chunk()
    assert chunk_combinations(spec, chunk) == spec.combinations()[3:7]
