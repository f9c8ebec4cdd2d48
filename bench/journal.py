"""Journal analytics speed: one account with 100,000 executions (about 50,000 trades).

    .venv/bin/python bench/journal.py [--executions 100000] [--runs 30]

Writes the executions through the journal (SQLite documents, the local Arrow snapshot),
annotates a fifth of the trades, then measures every analytics query (statistics, daily
curve, each breakdown, the trade list; unfiltered and filtered): p95 warm (snapshot in
memory) and cold (the in-process copy dropped, read back from the Arrow blob). The peer
is a straightforward pandas recomputation from the document store in the same run (read
every execution document, number the round trips with cumulative sums, aggregate); its
trade count and net P&L must equal ours. Prints one line:

    BENCH journal executions=... trades=... warm_p95_ms=... cold_p95_ms=... peer_ms=... ratio=...
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import psutil

from shared.journal import analytics
from shared.journal.analytics import BREAKDOWNS, JournalFilter
from shared.journal.models import AnnotationIn, ExecutionIn
from shared.journal.service import TradesQuery, trade_page
from shared.journal.store import CONTAINER, Journal, annotation_document, forget_cache
from shared.storage.blob_local import LocalBlobStore
from shared.storage.documents import Filter
from shared.storage.documents_sqlite import SqliteDocumentStore

ACCOUNT = "bench"
SYMBOLS = [f"S{n:02d}" for n in range(50)]
BROKERS = ["U100", "U200", "U300"]
TAGS = ["breakout", "pullback", "news", "fade", "gap"]
SETUPS = ["ORB", "VWAP", "Flag", "Reversal"]


def executions(count: int, seed: int = 7) -> list[ExecutionIn]:
    """Round trips (buy then sell, or sell then buy) per (broker, symbol), never
    overlapping, on weekdays 2023-2024 between 09:30 and 16:00 New York time."""
    rng = np.random.default_rng(seed)
    groups = [(b, s) for b in BROKERS for s in SYMBOLS]
    per_group = count // 2 // len(groups)
    start = datetime(2023, 1, 2, 14, 30, tzinfo=UTC)
    out: list[ExecutionIn] = []
    for broker, symbol in groups:
        at = start + timedelta(minutes=int(rng.integers(0, 600)))
        price = float(rng.uniform(20, 400))
        for _ in range(per_group):
            at += timedelta(minutes=int(rng.integers(20, 2000)))
            while at.weekday() >= 5:
                at += timedelta(days=1)
            hold = timedelta(minutes=int(rng.integers(1, 240)), seconds=int(rng.integers(0, 60)))
            qty = float(rng.integers(1, 50) * 10)
            long = bool(rng.random() < 0.6)
            exit_price = round(price * (1 + rng.normal(0.0005, 0.01)), 2)
            price = round(price, 2)
            fee = round(qty * 0.005, 2)
            sides = ("buy", "sell") if long else ("sell", "buy")
            for side, p, when in ((sides[0], price, at), (sides[1], exit_price, at + hold)):
                out.append(
                    ExecutionIn(
                        broker_account=broker,
                        symbol=symbol,
                        side=side,
                        quantity=qty,
                        price=p,
                        fees=fee,
                        executed_at=when,
                    )
                )
            at += hold
            price = exit_price
    return out


def annotate(journal: Journal, share: float = 0.2, seed: int = 11) -> int:
    """Annotation documents for a share of the trades (written directly: one write each)."""
    rng = np.random.default_rng(seed)
    trades = journal.trades()
    chosen = [t for t in trades if rng.random() < share]
    now = datetime.now(UTC).isoformat()
    for trade in chosen:
        stop = trade.entry_price * (0.99 if trade.side == "long" else 1.01)
        note = AnnotationIn(
            tags=list(rng.choice(TAGS, size=int(rng.integers(1, 3)), replace=False)),
            setup=str(rng.choice(SETUPS)),
            planned_stop=round(stop, 4),
        )
        journal.docs.upsert(CONTAINER, annotation_document(ACCOUNT, trade.id, note, [], now))
    journal._bump()
    return len(chosen)


def queries() -> dict[str, object]:
    """name -> JournalFilter or (filter, breakdown key) or TradesQuery."""
    everything = JournalFilter()
    filtered = JournalFilter.model_validate(
        {
            "from": "2023-06-01",
            "to": "2024-06-30",
            "symbols": "S01,S02,S03,S10",
            "tz": "America/New_York",
        }
    )
    tagged = JournalFilter.model_validate({"tags": "breakout", "side": "long"})
    found: dict[str, object] = {
        "stats": everything,
        "stats_filtered": filtered,
        "stats_tagged": tagged,
        "daily": everything,
        "daily_filtered": filtered,
        "trades_page": TradesQuery(),
        "trades_page_filtered": TradesQuery.model_validate({"symbols": "S05", "limit": 100}),
    }
    for key in BREAKDOWNS:
        found[f"by_{key}"] = (everything, key)
        found[f"by_{key}_filtered"] = (filtered, key)
    return found


def run(journal: Journal, query: object) -> object:
    frame = journal.frame()
    if isinstance(query, TradesQuery):
        return trade_page(journal, query)
    if isinstance(query, tuple):
        return analytics.breakdown(frame, query[0], query[1])
    assert isinstance(query, JournalFilter)
    return analytics.stats(frame, query)


def run_named(journal: Journal, name: str, query: object) -> object:
    if name.startswith("daily"):
        assert isinstance(query, JournalFilter)
        return analytics.daily(journal.frame(), query)
    return run(journal, query)


def p95(samples: list[float]) -> float:
    return float(np.percentile(np.asarray(samples) * 1000, 95))


def peer(store: SqliteDocumentStore) -> tuple[float, int, float, pd.DataFrame]:
    """pandas from the documents: read, sort, number round trips, aggregate statistics and
    the by-symbol breakdown. Returns (seconds, trades, net P&L, by symbol)."""
    started = time.perf_counter()
    docs = store.query(CONTAINER, ACCOUNT, [Filter("kind", "=", "execution")]).items
    frame = pd.DataFrame(docs)
    frame["executedAt"] = pd.to_datetime(frame["executedAt"], utc=True)
    frame = frame.sort_values(["brokerAccount", "symbol", "executedAt", "id"])
    signed = np.where(frame["side"] == "buy", frame["quantity"], -frame["quantity"])
    frame["signed"] = signed
    frame["position"] = frame.groupby(["brokerAccount", "symbol"])["signed"].cumsum()
    opened = frame.groupby(["brokerAccount", "symbol"])["position"].shift(fill_value=0) == 0
    frame["trade"] = opened.cumsum()
    frame["cash"] = -frame["signed"] * frame["price"] * frame["multiplier"]
    trades = frame.groupby("trade").agg(
        symbol=("symbol", "first"),
        gross=("cash", "sum"),
        fees=("fees", "sum"),
        position=("position", "last"),
        closed_at=("executedAt", "last"),
    )
    trades = trades[trades["position"].abs() < 1e-9]
    trades["net"] = trades["gross"] - trades["fees"]
    wins = trades["net"][trades["net"] > 0]
    losses = trades["net"][trades["net"] < 0]
    daily = trades.groupby(trades["closed_at"].dt.date)["net"].sum()
    _ = (wins.mean(), losses.mean(), wins.sum() / -losses.sum(), daily.mean() / daily.std())
    by_symbol = trades.groupby("symbol")["net"].agg(["count", "sum"])
    return time.perf_counter() - started, len(trades), float(trades["net"].sum()), by_symbol


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()
    process = psutil.Process()
    root = Path(tempfile.mkdtemp(prefix="bench-journal-"))
    store = SqliteDocumentStore(root / "docs.sqlite3")
    blobs = LocalBlobStore(
        root / "blobs", "lake", signing_key="bench", public_base_url="http://127.0.0.1"
    )
    journal = Journal(store, blobs, ACCOUNT)

    items = executions(args.executions)
    started = time.perf_counter()
    result = journal.add(items, "import")
    write_s = time.perf_counter() - started
    annotated = annotate(journal)
    started = time.perf_counter()
    frame = journal.frame()  # full rebuild from the documents
    rebuild_s = time.perf_counter() - started
    trades = int(frame.closed.sum())
    print(
        f"wrote {result.added} executions in {write_s:.1f} s; annotated {annotated} trades; "
        f"snapshot rebuilt from the documents in {rebuild_s:.2f} s ({len(frame)} trades)"
    )

    named = queries()
    warm: dict[str, float] = {}
    cold: dict[str, float] = {}
    for name, query in named.items():
        run_named(journal, name, query)
        samples = []
        for _ in range(args.runs):
            started = time.perf_counter()
            run_named(journal, name, query)
            samples.append(time.perf_counter() - started)
        warm[name] = p95(samples)
        samples = []
        for _ in range(args.cold_runs):
            forget_cache()
            started = time.perf_counter()
            run_named(journal, name, query)
            samples.append(time.perf_counter() - started)
        cold[name] = p95(samples)

    peer_s, peer_trades, peer_net, by_symbol = peer(store)
    ours = analytics.stats(journal.frame(), JournalFilter())
    assert peer_trades == ours.trades, (peer_trades, ours.trades)
    assert abs(peer_net - ours.net_pnl) < 1e-6 * max(1.0, abs(peer_net)), (peer_net, ours.net_pnl)
    mine = {g.key: g for g in analytics.breakdown(journal.frame(), JournalFilter(), "symbol")}
    for symbol, row in by_symbol.iterrows():
        assert mine[str(symbol)].trades == row["count"]
        assert abs(mine[str(symbol)].net_pnl - row["sum"]) < 1e-6 * max(1.0, abs(row["sum"]))

    # Ours from the documents as well, for the record: read, match, snapshot.
    forget_cache()
    started = time.perf_counter()
    table = journal._build()
    ours_from_docs_s = time.perf_counter() - started

    # One more write on the full journal: the incremental path (one group re-matched).
    writes = []
    for number in range(5):
        extra = ExecutionIn(
            broker_account=BROKERS[0],
            symbol=SYMBOLS[number],
            side="buy",
            quantity=1.0,
            price=100.0,
            executed_at=datetime(2030, 1, 2, 15, number, tzinfo=UTC),
        )
        started = time.perf_counter()
        journal.add([extra], "manual")
        writes.append(time.perf_counter() - started)
    write_one_ms = float(np.median(writes) * 1000)

    frame = journal.frame()
    arrays = (frame.net, frame.gross, frame.fees, frame.r, frame.holding, frame.opened_ns)
    frame_mb = (frame.table.nbytes + sum(a.nbytes for a in arrays)) / 1e6
    rss_mb = process.memory_info().rss / 1e6
    width = max(len(n) for n in named)
    print(f"{'query':<{width}}  warm p95 ms  cold p95 ms")
    for name in named:
        print(f"{name:<{width}}  {warm[name]:11.2f}  {cold[name]:11.2f}")
    warm_worst = max(warm.values())
    cold_worst = max(cold.values())
    ratio = peer_s * 1000 / warm_worst
    print(
        f"peer (pandas from the documents): {peer_s * 1000:.0f} ms per query; our full "
        f"recomputation from the documents: {ours_from_docs_s * 1000:.0f} ms "
        f"({table.num_rows} trades)"
    )
    print(
        f"BENCH journal executions={result.added} trades={trades} queries={len(named)} "
        f"warm_p95_ms={warm_worst:.2f} cold_p95_ms={cold_worst:.2f} peer_ms={peer_s * 1000:.0f} "
        f"ratio={ratio:.0f} snapshot_mb={frame_mb:.1f} rss_mb={rss_mb:.0f} "
        f"write_s={write_s:.1f} write_one_ms={write_one_ms:.0f} rebuild_s={rebuild_s:.2f} "
        f"load1={os.getloadavg()[0]:.1f} cpus={os.cpu_count()} "
        f"targets={'met' if warm_worst <= 100 and cold_worst <= 1000 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
