"""The typed messages between a run's steps (orchestrator input, plan, chunk tasks and their
summaries, walk-forward evaluations, fan-in). JSON at the Durable boundary: `wire(message)`
out, `Model.model_validate(payload)` in (the SDK serialises activity inputs and outputs with
`json.dumps`, so a pydantic object itself cannot cross)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, Field

from shared.api_model import ApiModel
from shared.backtest import Chunk, ExecutionSettings, StrategySpec, WalkForwardWindow
from shared.backtest.runs.request import BacktestRequest
from shared.backtest.spec import TRUSTED

ParamValue = int | float
MetricValues = dict[str, float | None]
M = TypeVar("M", bound=BaseModel)


def wire(message: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """A message as the JSON the Durable SDK carries (camelCase names)."""
    return message.model_dump(mode="json", by_alias=True, exclude=exclude)


def from_wire(model: type[M], payload: Any) -> M:
    """A message back from its JSON: types checked, but a spec inside is not checked against
    its strategy's rules again (`TRUSTED`): the request was validated once, at the edge."""
    return model.model_validate(payload, context=TRUSTED)


class Traced(ApiModel):
    """A message that carries the caller's trace context (`shared.telemetry.TRACE_KEY`)."""

    trace_context: dict[str, str] | None = None


class RunJob(Traced):
    """The run orchestration's input."""

    run_id: str
    account_id: str
    request: BacktestRequest


class DataRef(ApiModel):
    """A symbol's bars for the run: a Parquet snapshot in the results container."""

    symbol: str
    blob: str
    bars: int


class ChunkRange(ApiModel):
    """Combinations [start, stop) of the grid; `index` orders a sweep's chunks. `rawStart`,
    `rawStop`: where they lie in the unfiltered product of the axes (the plan locates them),
    so the chunk decodes only its own combinations."""

    index: int
    start: int
    stop: int
    raw_start: int | None = None
    raw_stop: int | None = None

    @classmethod
    def of(cls, chunk: Chunk) -> ChunkRange:
        return cls(
            index=chunk.index,
            start=chunk.start,
            stop=chunk.stop,
            raw_start=chunk.raw_start,
            raw_stop=chunk.raw_stop,
        )

    def chunk(self) -> Chunk:
        return Chunk(self.index, self.start, self.stop, self.raw_start, self.raw_stop)


class Window(ApiModel):
    """A walk-forward window: bars [trainStart, trainStop) optimise, [testStart, testStop)
    evaluate."""

    index: int
    train_start: int
    train_stop: int
    test_start: int
    test_stop: int

    @classmethod
    def of(cls, window: WalkForwardWindow) -> Window:
        return cls.model_validate(window.to_dict())

    def window(self) -> WalkForwardWindow:
        return WalkForwardWindow.from_dict(self.model_dump())


class ChunkItem(ApiModel):
    """One unit of fan-out work: a chunk of one symbol's grid (of one window's training bars
    in a walk-forward run)."""

    id: int
    symbol: str
    chunk: ChunkRange
    window: Window | None = None

    def describe(self, attempts: int) -> str:
        where = f", walk-forward window {self.window.index}" if self.window else ""
        return (
            f"chunk {self.id} ({self.symbol}{where}, combinations "
            f"{self.chunk.start}..{self.chunk.stop - 1}) after {attempts} attempts"
        )


class Evaluation(ApiModel):
    """A walk-forward window to evaluate once its chunks are done."""

    symbol: str
    window: Window


class Plan(ApiModel):
    """What the plan activity returns: the bars' snapshots and the work."""

    data: dict[str, DataRef]
    items: list[ChunkItem]
    evaluations: list[Evaluation] = Field(default_factory=list)
    max_chunks_per_orchestration: int
    plan_seconds: float
    done: InlineRun | None = Field(
        None,
        description="A sweep of one chunk run to its end inside the plan activity "
        "(BACKTEST_INLINE_SMALL_SWEEPS): the orchestration completes on it.",
    )


class Sweep(Traced):
    """What a chunk or an evaluation needs of the request: the strategy and how to trade it."""

    run_id: str
    spec: StrategySpec
    execution: ExecutionSettings
    metric: str = Field(description="The leaderboard metric's snake_case column.")
    data: DataRef


class ChunkTask(Sweep):
    """The chunk activity's input: its own chunk and its symbol's bars, nothing else."""

    item: ChunkItem


class SweepJob(Traced):
    """What the orchestrations hand each chunk: the strategy, how to trade it, the bars."""

    run_id: str
    spec: StrategySpec
    execution: ExecutionSettings
    metric: str = Field(description="The leaderboard metric's snake_case column.")
    data: dict[str, DataRef]

    @classmethod
    def of(cls, job: RunJob, data: dict[str, DataRef]) -> SweepJob:
        request = job.request
        return cls(
            run_id=job.run_id,
            spec=request.spec,
            execution=request.execution,
            metric=request.metric_column,
            data=data,
            trace_context=job.trace_context,
        )

    def sweep(self, symbol: str) -> dict[str, Any]:
        """The `Sweep` fields of a task on `symbol`."""
        return {
            "run_id": self.run_id,
            "spec": self.spec,
            "execution": self.execution,
            "metric": self.metric,
            "data": self.data[symbol],
            "trace_context": self.trace_context,
        }

    def chunk_task(self, item: ChunkItem) -> ChunkTask:
        return ChunkTask(item=item, **self.sweep(item.symbol))

    def evaluate_task(self, evaluation: Evaluation, refs: list[str]) -> EvaluateTask:
        return EvaluateTask(window=evaluation.window, refs=refs, **self.sweep(evaluation.symbol))


class BlockJob(SweepJob):
    """A block sub-orchestration's input: its chunks of one symbol."""

    items: list[ChunkItem]


class Best(ApiModel):
    """The best combination of a chunk (or of the run so far) by the leaderboard metric."""

    symbol: str
    combo: int
    params: dict[str, ParamValue]
    value: float | None
    ruined: bool = False


class ChunkSummary(ApiModel):
    """The chunk activity's output: where its metrics are, and its best combination."""

    id: int
    symbol: str
    window: int | None = None
    ref: str
    combinations: int
    seconds: float
    best: Best | None = None


class EvaluateTask(Sweep):
    """The walk-forward evaluation's input: the window and its chunks' results."""

    window: Window
    refs: list[str]


class WindowOutcome(ApiModel):
    """A walk-forward window's in-sample winner and its out-of-sample metrics."""

    symbol: str
    equity_ref: str
    window: Window
    params: dict[str, ParamValue]
    in_sample: MetricValues
    out_of_sample: MetricValues


class ChunkRef(ApiModel):
    """A finished chunk as the fan-in needs it."""

    symbol: str
    ref: str
    seconds: float
    window: int | None = None


class AggregateTask(Traced):
    """The fan-in's input."""

    run_id: str
    account_id: str
    request: BacktestRequest
    data: dict[str, DataRef]
    plan_seconds: float = 0.0
    chunks: list[ChunkRef]
    evaluations: list[WindowOutcome] = Field(default_factory=list)

    @classmethod
    def of(
        cls,
        job: RunJob,
        plan: Plan,
        chunks: list[ChunkSummary],
        evaluations: list[WindowOutcome] | None = None,
    ) -> AggregateTask:
        """The fan-in of `job` once its plan's `chunks` (and walk-forward `evaluations`)
        are done."""
        return cls(
            run_id=job.run_id,
            account_id=job.account_id,
            request=job.request,
            data=plan.data,
            plan_seconds=plan.plan_seconds,
            chunks=[
                ChunkRef(symbol=c.symbol, ref=c.ref, seconds=c.seconds, window=c.window)
                for c in chunks
            ],
            evaluations=evaluations or [],
            trace_context=job.trace_context,
        )


class ChunkStats(ApiModel):
    """How the chunks went: counts and seconds inside the kernel."""

    total: int
    done: int
    mean_seconds: float | None = None
    max_seconds: float | None = None
    sum_seconds: float | None = None


class RunOutput(ApiModel):
    """The run orchestration's output (the fan-in's): the summary blob and per-symbol digests."""

    summary: str
    symbols: dict[str, Any]
    chunk_stats: ChunkStats


class InlineRun(ApiModel):
    """A small sweep the plan activity ran itself: its one chunk, and the fan-in's output."""

    chunk: ChunkSummary
    output: RunOutput


class FailedTask(ApiModel):
    """The failure activity's input: which run, and why."""

    run_id: str
    account_id: str
    error: str


Plan.model_rebuild()  # `done` names a model defined below it
