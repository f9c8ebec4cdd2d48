"""A strategy's grid as a mixed-radix number. Raw index `r` of the unfiltered cartesian product
of the axes (in itertools.product order: the last axis fastest) decodes to one value index
per axis; the valid combinations are the raw indices whose values meet the relations, in raw
order, numbered 0.. (the combination index chunks slice).

So a chunk needs no more than its raw range: it decodes raw indices [start, stop) and keeps
the valid ones, O(stop - start) work and memory. The plan counts the valid combinations and
finds the raw index of each chunk boundary in blocks of `BLOCK` raw indices: O(grid) time
(as the count always was), O(BLOCK) memory."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from shared.backtest.strategies.params import Relation
from shared.backtest.values import GridAxis, ParamValue

Combo = dict[str, ParamValue]
BLOCK = 1 << 16
"""Raw indices decoded at once (a few MB of int64 indices at most)."""

_UFUNCS = {"<": np.less, "<=": np.less_equal}


@dataclass(frozen=True, eq=False)
class Grid:
    """The axes of every parameter (fixed ones as 1-lists), in the strategy's parameter order,
    and what a combination must meet: `relations`, compared on float64 arrays, or `valid`, a
    predicate on one combination (a registered class with its own rule)."""

    axes: Mapping[str, GridAxis]
    relations: Sequence[Relation] = ()
    valid: Callable[[Combo], bool] | None = None

    @property
    def names(self) -> list[str]:
        return list(self.axes)

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.axes.values())

    @property
    def raw_size(self) -> int:
        """Combinations before the relations: the product of the axes' sizes."""
        return math.prod(self.sizes)

    def blocks(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(first raw index, keep mask) of each block of raw indices [start, stop)."""
        stop = self.raw_size if stop is None else stop
        for first in range(start, stop, BLOCK):
            yield first, self._keep(self._decode(first, min(first + BLOCK, stop)))

    def count(self) -> int:
        """How many combinations are valid, without building any."""
        return sum(int(np.count_nonzero(keep)) for _, keep in self.blocks())

    def locate(self, positions: Sequence[int]) -> list[int]:
        """The raw index of each valid combination numbered in `positions` (ascending); a
        position with no combination (the count, or past it) gives `raw_size`. Chunk k of the
        combinations [a, b) is then raw range [locate(a), locate(b))."""
        found: list[int] = []
        pending = list(positions)
        if any(b < a for a, b in itertools.pairwise(pending)):
            raise ValueError("positions must be ascending")
        seen = 0
        at = 0
        for first, keep in self.blocks():
            if at == len(pending):
                break
            kept = np.flatnonzero(keep)
            while at < len(pending) and pending[at] < seen + len(kept):
                found.append(first + int(kept[pending[at] - seen]))
                at += 1
            seen += len(kept)
        found.extend([self.raw_size] * (len(pending) - at))
        return found

    def combinations(self, start: int = 0, stop: int | None = None) -> list[Combo]:
        """The valid combinations among raw indices [start, stop), in order (dicts of the
        axes' own int/float values)."""
        names = self.names
        if not names:
            return [{}] if start == 0 and (stop is None or stop > 0) else []
        objects = [np.asarray(self.axes[n], dtype=object) for n in names]
        found: list[Combo] = []
        stop = self.raw_size if stop is None else stop
        for first in range(start, stop, BLOCK):
            index = self._decode(first, min(first + BLOCK, stop))
            index = index[:, self._keep(index)]
            columns = [values[index[k]].tolist() for k, values in enumerate(objects)]
            found.extend(dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True))
        return found

    def _decode(self, start: int, stop: int) -> np.ndarray:
        """(axes x (stop - start)) value indices of raw indices [start, stop)."""
        raw = np.arange(start, stop, dtype=np.int64)
        if not self.sizes:
            return np.zeros((0, len(raw)), dtype=np.int64)
        return np.stack(np.unravel_index(raw, self.sizes)).astype(np.int64, copy=False)

    def _keep(self, index: np.ndarray) -> np.ndarray:
        names = self.names
        if self.valid is not None:
            objects = [np.asarray(self.axes[n], dtype=object) for n in names]
            columns = [values[index[k]].tolist() for k, values in enumerate(objects)]
            rows = zip(*columns, strict=True) if names else iter([()] * index.shape[1])
            return np.fromiter(
                (self.valid(dict(zip(names, row, strict=True))) for row in rows),
                dtype=np.bool_,
                count=index.shape[1],
            )
        keep = np.ones(index.shape[1], dtype=np.bool_)
        for relation in self.relations:
            left = np.asarray(self.axes[relation.left], dtype=np.float64)
            right = np.asarray(self.axes[relation.right], dtype=np.float64)
            keep &= _UFUNCS[relation.op](
                left[index[names.index(relation.left)]], right[index[names.index(relation.right)]]
            )
        return keep
