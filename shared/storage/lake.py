"""`ParquetLake`: hive-partitioned Parquet datasets in a `BlobStore`, merged idempotently.

A dataset is a set of partitions; each partition is one blob

    <dataset>/<col>=<value>/<col>=<value>/.../part.parquet

The caller chooses the partition columns and their order. Ingestion writes bars as

    lake.merge("bars", table, partition_by=["interval", "symbol", "year"], key=["ts"])

where `table` holds the columns `interval`, `symbol`, `year` (add `year` from `ts` before
calling) and the bar columns. Partition columns stay inside the file too, so every file is
self-contained. A merge reads the stored partition, appends the new rows, keeps the LAST row
per key (new data wins), sorts by the key and writes deterministic Parquet bytes; when those
bytes equal the stored ones nothing is written (`MergeResult.bytes_written == 0`). Each
partition is replaced by one atomic blob write, so a failure never leaves a torn partition.
Concurrent merges into one partition are safe: each write is conditional on the etag it
read, and a writer that lost the race re-reads and merges again.

Read back with filters in the pyarrow style, e.g.

    lake.read("bars", [("symbol", "=", "AAPL"), ("interval", "=", "1d"),
                       ("ts", ">=", start), ("ts", "<", end)])

Filters on partition columns prune partitions before any download.

A dataset that grows all day in small pieces (the relay's ticks) uses `append` instead:
each piece becomes one more file `part-<name>.parquet` in its partition, costing only the
new rows, and `compact` later folds the pieces together. Reads return every file's rows.
"""

from __future__ import annotations

import io
import operator
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shared.errors import Conflict, InvalidInput, PreconditionFailed
from shared.storage.blob import BlobInfo, BlobNotFound, BlobStore

FILE_NAME = "part.parquet"
PART_PREFIX = "part-"
COMPACTED_PREFIX = "part-~"
PARQUET = "application/vnd.apache.parquet"
ROW = "__lake_row"
MERGE_ATTEMPTS = 8
READ_AHEAD = 8
"""Partitions `read_partitions` fetches ahead of the one it yields."""
FilterTuple = tuple[str, str, Any]

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class MergeResult:
    """What a partition merge did: rows now stored, bytes written (0 = unchanged)."""

    path: str
    partition: dict[str, str]
    rows: int
    bytes_written: int

    @property
    def changed(self) -> bool:
        return self.bytes_written > 0


@dataclass(frozen=True)
class Partition:
    path: str
    values: dict[str, str]
    size: int


def _check_part(text: str, what: str) -> str:
    if not text or "/" in text or "=" in text or text in (".", "..") or "\\" in text:
        raise InvalidInput(f"lake {what} {text!r} must be non-empty without '/', '=' or '\\'")
    return text


def partition_value(value: Any) -> str:
    """The path text of a partition value (dates as ISO, everything else as `str`)."""
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    return _check_part(str(value), "partition value")


def _is_data_file(name: str) -> bool:
    return "/" not in name and (name == FILE_NAME or is_part_file(name))


def is_part_file(name: str) -> bool:
    """An appended file (`part-<name>.parquet`) rather than the partition's base file."""
    return name.startswith(PART_PREFIX) and name.endswith(".parquet")


def _parse_path(dataset: str, path: str) -> dict[str, str] | None:
    parts = path.split("/")
    if len(parts) < 2 or parts[0] != dataset:
        return None
    if parts[-1] != FILE_NAME and not is_part_file(parts[-1]):
        return None
    values: dict[str, str] = {}
    for part in parts[1:-1]:
        column, sep, value = part.partition("=")
        if not sep:
            return None
        values[column] = value
    return values


def _as_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _partition_matches(values: Mapping[str, str], filters: Sequence[FilterTuple]) -> bool:
    for column, op, wanted in filters:
        if column not in values:
            continue
        have = values[column]
        if op == "in":
            if have not in {partition_value(item) for item in wanted}:
                return False
            continue
        if op == "not in":
            continue
        want = partition_value(wanted)
        left: Any = have
        right: Any = want
        numbers = (_as_number(have), _as_number(want))
        if op not in ("=", "==", "!=") and None not in numbers:
            left, right = numbers
        if not _COMPARE[op](left, right):
            return False
    return True


def _check_filters(filters: Sequence[FilterTuple]) -> list[FilterTuple]:
    checked = []
    for item in filters:
        if len(item) != 3:
            raise InvalidInput(f"lake filter {item!r} must be (column, op, value)")
        column, op, value = item
        if op not in _COMPARE and op not in ("in", "not in"):
            raise InvalidInput(f"lake filter op {op!r} is not one of =, !=, <, <=, >, >=, in")
        if op in ("in", "not in") and not isinstance(value, list | tuple | set | frozenset):
            raise InvalidInput(f"lake filter {op!r} on {column!r} needs a list")
        checked.append((column, op, value))
    return checked


def _expression(filters: Sequence[FilterTuple], schema: pa.Schema) -> pc.Expression | None:
    expression: pc.Expression | None = None
    for column, op, value in filters:
        if column not in schema.names:
            raise InvalidInput(f"lake filter column {column!r} is not in the data")
        field = pc.field(column)
        if op == "in":
            part = field.isin(pa.array(list(value), type=schema.field(column).type))
        elif op == "not in":
            part = ~field.isin(pa.array(list(value), type=schema.field(column).type))
        else:
            scalar = pa.scalar(value).cast(schema.field(column).type)
            part = _COMPARE[op](field, scalar)
        expression = part if expression is None else expression & part
    return expression


def parquet_bytes(table: pa.Table) -> bytes:
    """Deterministic Parquet bytes: same table, same pyarrow → byte-identical output."""
    sink = io.BytesIO()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        data_page_version="2.0",
        row_group_size=1 << 20,
    )
    return sink.getvalue()


def read_parquet(data: bytes, columns: Sequence[str] | None = None) -> pa.Table:
    """One small Parquet file's table (only `columns`, if given), read straight from its
    bytes: the same table `pq.read_table` gives, at about a third of its fixed cost per file
    (no dataset discovery, no thread pool), which dominates for the lake's small partitions."""
    return pq.ParquetFile(pa.BufferReader(data)).read(columns=columns, use_threads=False)


def dedupe_sorted(table: pa.Table, key: Sequence[str]) -> pa.Table:
    """The last row per key (in table order), sorted by the key."""
    for column in key:
        if column not in table.schema.names:
            raise InvalidInput(f"key column {column!r} is not in the data")
        if table[column].null_count:
            raise InvalidInput(f"key column {column!r} has nulls; drop or fill those rows")
    numbered = table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
    last = numbered.group_by(list(key), use_threads=False).aggregate([(ROW, "max")])
    kept = numbered.take(last[f"{ROW}_max"].combine_chunks())
    result = kept.drop_columns([ROW]).sort_by([(column, "ascending") for column in key])
    return result.combine_chunks()


def _fold_order(path: str) -> tuple[bool, str]:
    """Compacted parts hold what was appended before today's loose parts: they fold first."""
    name = path.rsplit("/", 1)[1]
    return not name.startswith(COMPACTED_PREFIX), name


class ParquetLake:
    """Parquet datasets in one blob container; see the module docstring."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def __repr__(self) -> str:
        return f"ParquetLake({self.blobs!r})"

    def partition_path(self, dataset: str, partition: Mapping[str, Any]) -> str:
        parts = [_check_part(dataset, "dataset")]
        for column, value in partition.items():
            parts.append(f"{_check_part(column, 'partition column')}={partition_value(value)}")
        return "/".join([*parts, FILE_NAME])

    def part_path(self, dataset: str, partition: Mapping[str, Any], part: str) -> str:
        base = self.partition_path(dataset, partition)
        return f"{base.rsplit('/', 1)[0]}/{PART_PREFIX}{_check_part(part, 'part name')}.parquet"

    def files(self, dataset: str, partition: Mapping[str, Any]) -> list[str]:
        """Every data file of one partition: the base file and appended parts, in name order."""
        folder = self.partition_path(dataset, partition).rsplit("/", 1)[0] + "/"
        return [info.name for info in self._data_files(folder)]

    def _data_files(self, folder: str) -> list[BlobInfo]:
        """The data files directly in `folder` (a partition path ending in '/')."""
        return [info for info in self.blobs.list(folder) if _is_data_file(info.name[len(folder) :])]

    def append(
        self, dataset: str, table: pa.Table, *, partition_by: Sequence[str], part: str
    ) -> list[MergeResult]:
        """Add `table`'s rows to each partition as one more file, `part-<part>.parquet`,
        beside what the partition holds: the cost is the new rows', however large the
        partition has grown (a merge rewrites the partition). Appending the same `part`
        again replaces that file, so a replayed append duplicates nothing. Readers get the
        union of the files; `compact` folds parts together, de-duplicated by key."""
        results = []
        for partition, rows in self._split(table, partition_by):
            path = self.part_path(dataset, partition, part)
            data = parquet_bytes(rows.replace_schema_metadata(None))
            self.blobs.put(path, data, content_type=PARQUET, overwrite=True)
            values = {column: partition_value(value) for column, value in partition.items()}
            results.append(MergeResult(path, values, rows.num_rows, len(data)))
        return results

    def compact(
        self,
        dataset: str,
        partition: Mapping[str, Any],
        *,
        key: Sequence[str],
        into_base: bool,
    ) -> MergeResult | None:
        """Fold appended parts together, de-duplicated by `key`: later rows win, the order
        being the base file, compacted parts, then loose parts in name order.

        `into_base`: every part into the base file (an etag-guarded merge), e.g. once the
        partition stops growing. Otherwise only the parts not compacted yet become one
        compacted part, so the cost stays that of the new rows while the partition grows.
        Folded parts are deleted after the write: a crash in between leaves rows in two
        files (never lost), which the next compaction, or a reader de-duplicating by key,
        resolves. None when there was nothing to fold, or when another compaction of the
        same partition got there first (a part vanished, or the compacted part exists): the
        parts are then left as they are."""
        parts = sorted(
            (
                path
                for path in self.files(dataset, partition)
                if is_part_file(name := path.rsplit("/", 1)[1])
                and (into_base or not name.startswith(COMPACTED_PREFIX))
            ),
            key=_fold_order,
        )
        if not parts or (len(parts) == 1 and not into_base):
            return None
        try:
            tables = [read_parquet(self.blobs.get(path)) for path in parts]
        except BlobNotFound:
            return None
        combined = pa.concat_tables(
            [t.replace_schema_metadata(None) for t in tables], promote_options="permissive"
        )
        if into_base:
            result = self.merge_partition(dataset, partition, combined, key=key)
        else:
            last = parts[-1].rsplit("/", 1)[1].removeprefix(PART_PREFIX).removesuffix(".parquet")
            target = self.part_path(dataset, partition, "~" + last.lstrip("~"))
            data = parquet_bytes(dedupe_sorted(combined, key))
            try:
                self.blobs.put(target, data, content_type=PARQUET, overwrite=False)
            except Conflict:
                return None
            values = {column: partition_value(value) for column, value in partition.items()}
            result = MergeResult(target, values, combined.num_rows, len(data))
        for path in parts:
            if path != result.path:
                self.blobs.delete(path)
        return result

    def read_partition(
        self, dataset: str, partition: Mapping[str, Any], columns: Sequence[str] | None = None
    ) -> pa.Table | None:
        """The stored table of one partition (only `columns`, if given), or None if it does
        not exist."""
        try:
            data = self.blobs.get(self.partition_path(dataset, partition))
        except BlobNotFound:
            return None
        return read_parquet(data, columns)

    def read_partitions(
        self,
        dataset: str,
        partitions: Sequence[Mapping[str, Any]],
        columns: Sequence[str] | None = None,
        *,
        ahead: int | None = None,
    ) -> Iterator[pa.Table | None]:
        """`read_partition` of each partition, yielded in order. From a remote store (a
        round trip per blob) up to `ahead` (default `READ_AHEAD`) more are fetched and
        decoded on a few threads meanwhile, so at most `ahead` + 1 tables are held beyond
        what the caller keeps and a caller that stops early stops the reading too. From a
        local store they are read one after another: the files are in the page cache and
        the cost per file is Python work, which threads only slow down (measured)."""
        if ahead is None:
            ahead = READ_AHEAD if self.blobs.remote else 0
        if len(partitions) <= 1 or ahead < 1:
            for partition in partitions:
                yield self.read_partition(dataset, partition, columns)
            return
        pending: deque[Future[pa.Table | None]] = deque()
        with ThreadPoolExecutor(min(ahead, len(partitions)), "lake-read") as pool:
            try:
                for partition in partitions:
                    pending.append(pool.submit(self.read_partition, dataset, partition, columns))
                    if len(pending) > ahead:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
            finally:
                for future in pending:
                    future.cancel()

    def partition_rows(self, dataset: str, partition: Mapping[str, Any]) -> int:
        """The row count of one partition from its Parquet footer: no row is read or decoded
        (a seekable stream reads only the footer). 0 if the partition does not exist."""
        try:
            with self.blobs.open(self.partition_path(dataset, partition)) as stream:
                source = stream if stream.seekable() else io.BytesIO(stream.read())
                return int(pq.ParquetFile(source).metadata.num_rows)
        except BlobNotFound:
            return 0

    def merge_partition(
        self,
        dataset: str,
        partition: Mapping[str, Any],
        table: pa.Table,
        *,
        key: Sequence[str],
    ) -> MergeResult:
        """Merge `table` into one partition (de-duplicated by `key`, later rows win)."""
        if not key:
            raise InvalidInput("merge needs at least one key column")
        path = self.partition_path(dataset, partition)
        values = {column: partition_value(value) for column, value in partition.items()}
        incoming = table.replace_schema_metadata(None)
        for _attempt in range(MERGE_ATTEMPTS):
            etag, stored_bytes = self._load(path)
            merged = self._merged(path, stored_bytes, incoming, key)
            data = parquet_bytes(merged)
            if data == stored_bytes:
                return MergeResult(path, values, merged.num_rows, 0)
            try:
                if etag is None:
                    self.blobs.put(path, data, content_type=PARQUET, overwrite=False)
                else:
                    self.blobs.put(path, data, content_type=PARQUET, if_match=etag)
            except (Conflict, PreconditionFailed):
                continue
            return MergeResult(path, values, merged.num_rows, len(data))
        raise Conflict(f"{path} kept changing during {MERGE_ATTEMPTS} merge attempts; retry later")

    def _load(self, path: str) -> tuple[str | None, bytes | None]:
        """The stored partition's etag and bytes (etag read first, so a write in between
        makes the conditional put fail rather than be lost)."""
        try:
            etag = self.blobs.info(path).etag
            return etag, self.blobs.get(path)
        except BlobNotFound:
            return None, None

    @staticmethod
    def _merged(
        path: str, stored_bytes: bytes | None, incoming: pa.Table, key: Sequence[str]
    ) -> pa.Table:
        if stored_bytes is None:
            return dedupe_sorted(incoming, key)
        stored = read_parquet(stored_bytes).replace_schema_metadata(None)
        try:
            combined = pa.concat_tables([stored, incoming], promote_options="permissive")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
            raise InvalidInput(f"new rows do not fit the schema of {path}: {error}") from None
        return dedupe_sorted(combined, key)

    def merge(
        self,
        dataset: str,
        table: pa.Table,
        *,
        partition_by: Sequence[str],
        key: Sequence[str],
    ) -> list[MergeResult]:
        """Split `table` by the values of `partition_by` columns and merge each partition."""
        return [
            self.merge_partition(dataset, partition, rows, key=key)
            for partition, rows in self._split(table, partition_by)
        ]

    @staticmethod
    def _split(
        table: pa.Table, partition_by: Sequence[str]
    ) -> Iterator[tuple[dict[str, Any], pa.Table]]:
        """(partition values, rows) per distinct value of the `partition_by` columns, in
        path order."""
        for column in partition_by:
            if column not in table.schema.names:
                raise InvalidInput(f"partition column {column!r} is not in the data")
            if table[column].null_count:
                raise InvalidInput(f"partition column {column!r} has nulls")
        if table.num_rows == 0:
            return
        if not partition_by:
            yield {}, table
            return
        numbered = table.select(list(partition_by)).append_column(
            ROW, pa.array(np.arange(table.num_rows, dtype=np.int64))
        )
        groups = numbered.group_by(list(partition_by), use_threads=False).aggregate([(ROW, "list")])
        combos = groups.select(list(partition_by)).to_pylist()
        indices = groups[f"{ROW}_list"]
        order = sorted(range(len(combos)), key=lambda i: [str(v) for v in combos[i].values()])
        contiguous = table.combine_chunks()
        for position in order:
            rows = contiguous.take(indices[position].values)
            yield {column: combos[position][column] for column in partition_by}, rows

    def _read_files(self, folder: str, paths: list[str]) -> list[pa.Table]:
        """Every file of one partition folder, read as one consistent set: if a file vanished
        (a compaction folded it into another), the folder is listed and read again."""
        for _attempt in range(MERGE_ATTEMPTS):
            try:
                return [read_parquet(self.blobs.get(path)) for path in paths]
            except BlobNotFound:
                paths = [info.name for info in self._data_files(folder)]
        raise Conflict(f"{folder} kept changing during {MERGE_ATTEMPTS} reads; retry later")

    def partitions(
        self,
        dataset: str,
        filters: Sequence[FilterTuple] = (),
        *,
        under: Mapping[str, Any] | None = None,
    ) -> list[Partition]:
        """Data files of `dataset` (in path order) that `filters` on partition columns allow;
        `under` (the leading partition columns' values, in path order) lists only that folder."""
        checked = _check_filters(filters)
        prefix = f"{_check_part(dataset, 'dataset')}/"
        for column, value in (under or {}).items():
            prefix += f"{_check_part(column, 'partition column')}={partition_value(value)}/"
        found = []
        for info in self.blobs.list(prefix):
            values = _parse_path(dataset, info.name)
            if values is not None and _partition_matches(values, checked):
                found.append(Partition(info.name, values, info.size))
        return found

    def read(
        self,
        dataset: str,
        filters: Sequence[FilterTuple] = (),
        *,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of `dataset` matching every filter, partition by partition in path order."""
        checked = _check_filters(filters)
        folders: dict[str, list[Partition]] = {}
        for found in self.partitions(dataset, checked):
            folders.setdefault(found.path.rsplit("/", 1)[0] + "/", []).append(found)
        tables = []
        for folder, files in folders.items():
            values = files[0].values
            for table in self._read_files(folder, [f.path for f in files]):
                for column, value in values.items():
                    if column not in table.schema.names:
                        table = table.append_column(column, pa.array([value] * table.num_rows))
                expression = _expression(checked, table.schema)
                if expression is not None:
                    table = table.filter(expression)
                tables.append(table)
        if not tables:
            return pa.table({})
        result = pa.concat_tables(tables, promote_options="permissive")
        if columns is not None:
            result = result.select(list(columns))
        return result
