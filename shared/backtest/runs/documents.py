"""The run document (container `backtests`, one per run, partitioned by account): created when
a run starts, updated by the run's steps and by a cancel through ONE path, `update_run`
(the lease on writing its lazy result files through `claim_files_lease`/`release_files_lease`,
over the same `DocumentStore.update`).

Stored names are camelCase, as run documents always were (so `tools/migrate_casing.py` has
nothing to move here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ConfigDict, Field

from shared.api_model import ApiModel
from shared.backtest.runs.request import BacktestRequest
from shared.backtest.runs.status import TERMINAL, RunStatus
from shared.errors import NotFound
from shared.storage.documents import Document, DocumentNotFound, DocumentStore, Filter, Page
from shared.storage.factory import document_store

RUNS_CONTAINER = "backtests"
FINAL_FIELDS = frozenset({"status", "completedAt", "error"})
"""What a run that already ended keeps: a late step cannot turn a cancelled run back to
Running, nor overwrite why it ended."""
FILES_LEASE = "filesLease"
"""The field of a run document naming who writes its lazy result files (BACKTEST_LAZY_FILES)
and until when: `{"holder": ..., "expiresAt": ISO time}`, set by `claim_files_lease` and
removed by `release_files_lease`."""


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class RunDocument(ApiModel):
    """A stored run. Unknown and system fields (`_etag`, `_ts`) are ignored on reading."""

    model_config = ConfigDict(extra="ignore")

    id: str
    pk: str
    run_id: str
    account_id: str
    status: RunStatus = "Pending"
    request: dict[str, Any]
    strategy: str | None = None
    strategy_id: str | None = None
    strategy_version: int | None = None
    symbols: list[str]
    combinations: int
    created_at: str
    started_at: str | None = None
    completed_at: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    chunk_stats: dict[str, Any] = Field(default_factory=dict)
    results: dict[str, Any] | None = None
    error: str | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


def new_run_document(
    run_id: str, account_id: str, request: BacktestRequest, combinations: int
) -> RunDocument:
    """The document of a run about to start; `combinations` counts one symbol's."""
    return RunDocument(
        id=run_id,
        pk=account_id,
        run_id=run_id,
        account_id=account_id,
        request=request.model_dump(mode="json", by_alias=True),
        strategy=request.spec.strategy,
        strategy_id=request.strategy_id,
        strategy_version=request.strategy_version,
        symbols=request.symbols,
        combinations=combinations * len(request.symbols),
        created_at=now_iso(),
    )


def run_document(
    run_id: str, account_id: str, request: BacktestRequest, combinations: int
) -> dict[str, Any]:
    """`new_run_document` as the stored JSON."""
    return new_run_document(run_id, account_id, request, combinations).stored()


def create_run(doc: RunDocument, store: DocumentStore | None = None) -> None:
    (store or document_store()).create(RUNS_CONTAINER, doc.stored())


def update_run(account_id: str, run_id: str, **fields: Any) -> None:
    """Set top-level fields (camelCase names) of a run document through
    `DocumentStore.update`: a conflicting write is re-read and the change re-applied until it
    lands (or `UpdateContended` is raised: never dropped silently). A run that already ended
    keeps its status, end time and error (`FINAL_FIELDS`); a missing document is left alone."""

    def change(doc: Document) -> Document | None:
        changes = dict(fields)
        if doc.get("status") in TERMINAL:
            changes = {k: v for k, v in changes.items() if k not in FINAL_FIELDS}
        return {**doc, **changes} if changes else None

    try:
        document_store().update(RUNS_CONTAINER, run_id, account_id, change)
    except DocumentNotFound:
        return


def claim_files_lease(account_id: str, run_id: str, holder: str, seconds: float) -> bool:
    """Take (or, for its holder, renew) the lease on writing the run's lazy result files
    (`FILES_LEASE`) for `seconds`, through `DocumentStore.update`. False, and nothing
    written, while another holder's lease has not expired; a lease past its `expiresAt` (its
    holder died) is taken over. `DocumentNotFound` if the run is gone."""
    now = datetime.now(UTC)
    expires = (now + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")

    def change(doc: Document) -> Document | None:
        lease = doc.get(FILES_LEASE)
        if isinstance(lease, dict) and lease.get("holder") != holder and lease_expiry(lease) > now:
            return None
        return {**doc, FILES_LEASE: {"holder": holder, "expiresAt": expires}}

    return document_store().update(RUNS_CONTAINER, run_id, account_id, change) is not None


def release_files_lease(account_id: str, run_id: str, holder: str) -> None:
    """Drop `holder`'s lease on the run's files (one that another has taken over is left)."""

    def change(doc: Document) -> Document | None:
        lease = doc.get(FILES_LEASE)
        if not isinstance(lease, dict) or lease.get("holder") != holder:
            return None
        return {key: value for key, value in doc.items() if key != FILES_LEASE}

    try:
        document_store().update(RUNS_CONTAINER, run_id, account_id, change)
    except DocumentNotFound:
        return


def lease_expiry(lease: dict[str, Any]) -> datetime:
    """When a stored lease ends; one that cannot be read has ended."""
    try:
        expiry = datetime.fromisoformat(str(lease["expiresAt"]))
    except (KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
    return expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)


def read_run(account_id: str, run_id: str) -> dict[str, Any]:
    """The stored run `run_id` of `account_id`; `NotFound` if it has none."""
    try:
        return document_store().read(RUNS_CONTAINER, run_id, account_id)
    except DocumentNotFound:
        raise NotFound(f"no backtest run {run_id!r} in this account") from None


def find_run(run_id: str) -> dict[str, Any]:
    """The stored run `run_id`, whichever account's (for admins); `NotFound` if none."""
    found = document_store().query_all(RUNS_CONTAINER, None, [Filter("id", "=", run_id)])
    if not found:
        raise NotFound(f"no backtest run {run_id!r}")
    return found[0]


def list_runs(scope: str | None, *, limit: int | None, continuation: str | None) -> Page:
    """One page of runs, newest first: of account `scope`, or of every account (None)."""
    return document_store().query(
        RUNS_CONTAINER,
        scope,
        order_by="createdAt",
        descending=True,
        limit=limit,
        continuation=continuation,
    )
