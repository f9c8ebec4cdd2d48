"""Sweeps: plan a grid into chunks, run a chunk in the kernel, aggregate chunk results."""

from __future__ import annotations

import hashlib
import io
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from shared.backtest.bars import BarsFrame
from shared.backtest.execution import ExecutionSettings
from shared.backtest.metrics import METRICS
from shared.backtest.simulation import annualisation, run_metrics
from shared.backtest.spec import StrategySpec
from shared.backtest.strategies.registry import get_strategy
from shared.backtest.values import ParamValue
from shared.errors import InvalidInput

DEFAULT_THROUGHPUT = 5.0e7
"""Conservative bars x combinations per second of one worker, used to size chunks."""


@dataclass(frozen=True)
class Chunk:
    """Combinations [start, stop) of a spec's grid; `index` orders chunks of one sweep.
    `raw_start`/`raw_stop`, set by `plan_chunks`, are where they lie in the unfiltered product
    of the axes (`StrategySpec.locate`): the chunk decodes only those (`chunk_combinations`)."""

    index: int
    start: int
    stop: int
    raw_start: int | None = None
    raw_stop: int | None = None

    def __len__(self) -> int:
        return self.stop - self.start

    def to_dict(self) -> dict[str, int]:
        found = {"index": self.index, "start": self.start, "stop": self.stop}
        if self.raw_start is not None and self.raw_stop is not None:
            found |= {"raw_start": self.raw_start, "raw_stop": self.raw_stop}
        return found

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Chunk:
        raw = (data.get("raw_start"), data.get("raw_stop"))
        return cls(
            int(data["index"]),
            int(data["start"]),
            int(data["stop"]),
            *(None if r is None else int(r) for r in raw),
        )


def _encode_float(value: float) -> float | str | None:
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode_float(value: float | str | None) -> float:
    if value is None:
        return math.nan
    return float(value)


@dataclass(eq=False)
class ChunkResult:
    """The metrics of each combination of one chunk: `metrics[name][k]` is combination
    `chunk.start + k`. Round-trips bit-exactly through `to_dict`/`from_dict` (JSON-safe:
    NaN as null, infinities as "inf"/"-inf") and through `to_parquet`/`from_parquet`."""

    chunk: Chunk
    metrics: dict[str, np.ndarray]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "chunk": self.chunk.to_dict(),
            "seconds": self.seconds,
            "metrics": {k: [_encode_float(float(x)) for x in v] for k, v in self.metrics.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChunkResult:
        return cls(
            chunk=Chunk.from_dict(data["chunk"]),
            metrics={
                k: np.array([_decode_float(x) for x in v], dtype=np.float64)
                for k, v in data["metrics"].items()
            },
            seconds=float(data.get("seconds", 0.0)),
        )

    def to_parquet(self) -> bytes:
        table = pa.table({k: pa.array(v, type=pa.float64()) for k, v in self.metrics.items()})
        table = table.replace_schema_metadata(
            {
                "chunk": f"{self.chunk.index},{self.chunk.start},{self.chunk.stop}",
                "seconds": repr(self.seconds),
            }
        )
        sink = io.BytesIO()
        pq.write_table(table, sink)
        return sink.getvalue()

    @classmethod
    def from_parquet(cls, data: bytes) -> ChunkResult:
        table = pq.read_table(io.BytesIO(data))
        meta = table.schema.metadata or {}
        index, start, stop = (int(x) for x in meta[b"chunk"].decode().split(","))
        return cls(
            chunk=Chunk(index, start, stop),
            metrics={n: table.column(n).to_numpy() for n in table.column_names},
            seconds=float(meta.get(b"seconds", b"0")),
        )

    def best(self, metric: str = "sharpe_ratio") -> tuple[int, float] | None:
        """(combination index, value) of the best finite value of `metric`, or None; a
        surviving combination always beats a ruined one (see `ranking_order`)."""
        values = self.metrics[metric]
        if not np.isfinite(values).any():
            return None
        k = int(ranking_order(values, self.metrics["ruined"])[0])
        if not np.isfinite(values[k]):
            return None
        return self.chunk.start + k, float(values[k])

    def is_ruined(self, combo: int) -> bool:
        """Whether combination `combo` (a sweep-wide index inside this chunk) was ruined."""
        return bool(self.metrics["ruined"][combo - self.chunk.start])


@dataclass(eq=False)
class SweepResult:
    """Every combination's parameters and metrics, in combination-index order."""

    spec: StrategySpec
    execution: ExecutionSettings
    n_bars: int
    params: list[dict[str, ParamValue]]
    metrics: dict[str, np.ndarray]
    symbol: str = ""
    chunk_seconds: list[float] = field(default_factory=list)
    annualisation: dict[str, str | float] = field(default_factory=dict)
    """How returns were annualised (see `BarsFrame.annualisation`); filled by `run_sweep`."""

    def __len__(self) -> int:
        return len(self.params)

    def to_frame(self) -> pd.DataFrame:
        """One row per combination: `combo`, parameter columns, then metric columns."""
        return self._rows(np.arange(len(self.params), dtype=np.int64))

    def _rows(self, combos: np.ndarray) -> pd.DataFrame:
        """The `to_frame` rows of `combos`, in that order, built column-wise in one go (a
        column at a time through `frame[name] = ...` cost a sweep's aggregate ~50 ms)."""
        combos = np.asarray(combos, dtype=np.int64)
        params = pd.DataFrame([self.params[int(k)] for k in combos])
        columns: dict[str, Any] = {"combo": combos}
        columns.update({name: params[name].to_numpy() for name in params.columns})
        columns.update({name: self.metrics[name][combos] for name in METRICS})
        return pd.DataFrame(columns)

    def leaderboard(self, metric: str = "sharpe_ratio", top_n: int = 10) -> pd.DataFrame:
        """Top `top_n` rows by `metric`, descending (NaN last; ties by combination index).
        `max_drawdown_pct` is negative, so larger is better there too."""
        if metric not in self.metrics:
            raise InvalidInput(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
        return self._rows(self.ranking(metric)[:top_n])

    def ranking(self, metric: str = "sharpe_ratio") -> np.ndarray:
        """Combination indices best first, deterministic (stable on ties); surviving
        combinations before ruined ones whatever the metric (see `ranking_order`)."""
        return ranking_order(self.metrics[metric], self.metrics["ruined"])

    def digest(self) -> str:
        """SHA-256 over the metric arrays in canonical form (`canonical_floats`): equal
        digests mean equal results, however they travelled (in process, Parquet, JSON)."""
        h = hashlib.sha256()
        for name in METRICS:
            h.update(name.encode())
            h.update(canonical_floats(self.metrics[name]).tobytes())
        return h.hexdigest()


CANONICAL_NAN = np.frombuffer(b"\x00\x00\x00\x00\x00\x00\xf8\x7f", dtype="<f8")[0]
"""The one NaN digests see (0x7ff8000000000000); x86 produces 0xfff8... for 0/0, JSON
round-trips produce this one."""


def canonical_floats(values: np.ndarray) -> np.ndarray:
    """`values` as little-endian float64 with every NaN the same NaN and -0.0 as 0.0, so equal
    numbers always give equal bytes."""
    out = np.array(values, dtype="<f8", copy=True).reshape(-1)
    out[np.isnan(out)] = CANONICAL_NAN
    out[out == 0.0] = 0.0
    return out


def ranking_order(values: np.ndarray, ruined: np.ndarray | None = None) -> np.ndarray:
    """Indices of `values` best (largest) first: surviving runs, then ruined ones (`ruined`
    nonzero), each group by value descending with NaN last, ties by index. The one ranking
    rule of leaderboards, chunk bests and walk-forward selection."""
    values = np.asarray(values, dtype=np.float64)
    lost = np.zeros(values.shape, dtype=bool) if ruined is None else np.asarray(ruined) != 0
    key = np.where(np.isnan(values), np.inf, -values)
    return np.lexsort((key, lost))


def rank_key(value: float | None, ruined: bool | float | None) -> tuple[bool, bool, float]:
    """Sort key (ascending = best first) of one JSON row's metric `value` (None for NaN) and
    its `ruined` flag: the same rule as `ranking_order`, for rows outside a SweepResult."""
    missing = value is None or math.isnan(value)
    return bool(ruined), missing, 0.0 if missing else -float(value)  # type: ignore[arg-type]


def plan_chunks(
    spec: StrategySpec,
    n_bars: int,
    target_seconds: float = 3.0,
    *,
    throughput: float = DEFAULT_THROUGHPUT,
    max_chunks: int | None = None,
) -> list[Chunk]:
    """Split the grid into contiguous chunks of about `target_seconds` of kernel work each."""
    total = spec.n_combinations()
    if total == 0:
        raise InvalidInput(f"the grid of {spec.strategy!r} has no valid combination")
    per_chunk = max(1, int(target_seconds * throughput / max(n_bars, 1)))
    count = math.ceil(total / per_chunk)
    if max_chunks is not None:
        count = max(1, min(count, max_chunks))
    return locate_chunks(spec, split_even(total, count))


def locate_chunks(spec: StrategySpec, chunks: Sequence[Chunk]) -> list[Chunk]:
    """`chunks` with the raw range of each in the unfiltered grid (one pass over the grid in
    blocks: memory O(block), not O(grid)), so each chunk derives only its own combinations."""
    bounds = sorted({c.start for c in chunks} | {c.stop for c in chunks})
    raw = dict(zip(bounds, spec.locate(bounds), strict=True))
    return [replace(c, raw_start=raw[c.start], raw_stop=raw[c.stop]) for c in chunks]


def chunk_combinations(spec: StrategySpec, chunk: Chunk) -> list[dict[str, ParamValue]]:
    """The combinations [chunk.start, chunk.stop): decoded from the chunk's raw range when the
    plan located it (without enumerating the grid), else sliced from the whole grid."""
    if chunk.raw_start is None or chunk.raw_stop is None:
        return spec.combinations()[chunk.start : chunk.stop]
    combos = spec.combinations_between(chunk.raw_start, chunk.raw_stop)
    if len(combos) != len(chunk):
        raise InvalidInput(
            f"chunk {chunk.index}: raw grid range {chunk.raw_start}..{chunk.raw_stop} holds "
            f"{len(combos)} valid combinations, not the {len(chunk)} of combinations "
            f"{chunk.start}..{chunk.stop - 1}; the plan does not match this grid"
        )
    return combos


def split_even(total: int, count: int) -> list[Chunk]:
    """`count` contiguous chunks covering [0, total) whose sizes differ by at most one."""
    count = max(1, min(count, total))
    bounds = [total * i // count for i in range(count + 1)]
    return [Chunk(i, bounds[i], bounds[i + 1]) for i in range(count)]


def run_chunk(
    bars: BarsFrame,
    spec: StrategySpec,
    execution: ExecutionSettings,
    chunk: Chunk,
    combos: Sequence[dict[str, ParamValue]] | None = None,
) -> ChunkResult:
    """Run combinations [chunk.start, chunk.stop) through the compiled kernel (`combos`, if
    the caller already has them from `chunk_combinations`)."""
    started = time.perf_counter()
    if combos is None:
        combos = chunk_combinations(spec, chunk)
    metrics = run_metrics(get_strategy(spec.strategy), bars, combos, execution, spec.options)
    return ChunkResult(chunk, metrics, time.perf_counter() - started)


def aggregate(
    spec: StrategySpec,
    execution: ExecutionSettings,
    n_bars: int,
    chunk_results: Iterable[ChunkResult],
    *,
    symbol: str = "",
) -> SweepResult:
    """Merge chunk results into one `SweepResult`; bit-identical however the grid was cut.
    Chunks may arrive in any order; a gap or overlap raises `InvalidInput`."""
    results = sorted(chunk_results, key=lambda r: r.chunk.start)
    combos = spec.combinations()
    position = 0
    for r in results:
        if r.chunk.start != position:
            raise InvalidInput(f"chunk results leave a gap or overlap at combination {position}")
        position = r.chunk.stop
    if position != len(combos):
        raise InvalidInput(f"chunk results cover {position} of {len(combos)} combinations")
    metrics = {
        name: np.concatenate([np.asarray(r.metrics[name], dtype=np.float64) for r in results])
        for name in METRICS
    }
    return SweepResult(
        spec, execution, n_bars, combos, metrics, symbol, [r.seconds for r in results]
    )


def run_sweep(
    bars: BarsFrame,
    spec: StrategySpec,
    execution: ExecutionSettings,
    chunks: Sequence[Chunk] | None = None,
) -> SweepResult:
    """The whole grid in this process (one chunk unless `chunks` is given)."""
    chunks = chunks or split_even(spec.n_combinations(), 1)
    result = aggregate(
        spec,
        execution,
        len(bars),
        (run_chunk(bars, spec, execution, c) for c in chunks),
        symbol=bars.symbol,
    )
    result.annualisation = annualisation(bars, execution)
    return result
