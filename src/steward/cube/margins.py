"""Level margins of the numpy cube pass: sums per (level, coarse cell) for levels discovered
batch by batch, and packs of few-level group columns summed by one joint bincount."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import numpy as np

from steward.cube.bins import IntArray
from steward.cube.model import LABEL_AXIS, STATS, FloatArray, Level, Margin, level_sort_key

#: Margins of at most this many (level, cell) pairs are summed without compacting levels first.
_DENSE_CELLS = 1 << 20
#: Largest joint (level combination, cell) array of a pack of group columns. One bincount over
#: a few hundred thousand cells costs little more than one over a single column's cells (the
#: sums stay in cache), so a pack of three columns costs about a third of three margins.
JOINT_CELLS = 1 << 18

_Rows = TypeVar("_Rows", bound=np.ndarray[Any, Any])
#: Per row, a code into a list of levels (of one column, or of several combined).
Codes = tuple[IntArray, list[Level]]


def stat_sums(keys: IntArray, terms: list[FloatArray], size: int) -> FloatArray:
    """``(stat, cell)`` sums: a count and one weighted bincount per term, each copied into one
    contiguous row (a strided column costs more once the cells outgrow the cache)."""
    out = np.empty((len(STATS), size))
    out[0] = np.bincount(keys, minlength=size)
    for i, term in enumerate(terms, start=1):
        out[i] = np.bincount(keys, weights=term, minlength=size)
    return out


@dataclass
class LevelMargin:
    """A margin whose levels are discovered batch by batch: sums per (level, stat, cell), the
    layout bincounts fill contiguously (:meth:`margin` turns it into the cube's)."""

    dims: tuple[str, ...]
    cells: int
    index: dict[Level, int] = field(default_factory=dict)
    sums: FloatArray = field(init=False)

    def __post_init__(self) -> None:
        self.sums = np.zeros((0, len(STATS), self.cells))

    def add(
        self, codes: IntArray, values: list[Level], keys: IntArray, terms: list[FloatArray]
    ) -> None:
        """Add rows whose level is ``values[codes[i]]`` and cell ``keys[i]``."""
        if len(values) * self.cells <= _DENSE_CELLS:
            key = codes * self.cells
            key += keys
            sums = stat_sums(key, terms, len(values) * self.cells)
            self.add_sums(values, sums.reshape(len(STATS), len(values), self.cells))
            return
        present = np.flatnonzero(np.bincount(codes, minlength=len(values)))
        remap = np.zeros(len(values), dtype=np.intp)
        remap[present] = np.arange(present.size)
        size = present.size * self.cells
        key = remap[codes]
        key *= self.cells
        key += keys
        blocks = stat_sums(key, terms, size)
        blocks = blocks.reshape(len(STATS), present.size, self.cells).transpose(1, 0, 2)
        self._add_present(values, present, blocks)

    def add_sums(self, values: list[Level], sums: FloatArray) -> None:
        """Add ``sums[stat, level, cell]`` of rows of level ``values[level]``."""
        present = np.flatnonzero(sums[0].sum(axis=1))
        self._add_present(values, present, sums[:, present].transpose(1, 0, 2))

    def _add_present(self, values: list[Level], present: IntArray, blocks: FloatArray) -> None:
        # levels without rows in this batch are not registered: a margin lists only levels
        # with rows, as the SQL pass does
        targets = [self._position(values[int(code)]) for code in present]
        self._grow()
        _add_rows(self.sums, targets, blocks)

    def merge(self, other: LevelMargin) -> None:
        """Add the sums of ``other`` (the same margin over other rows)."""
        targets = [self._position(level) for level in other.index]
        self._grow()
        _add_rows(self.sums, targets, other.sums[list(other.index.values())])

    def _grow(self) -> None:
        if self.sums.shape[0] < len(self.index):
            grown = np.zeros((len(self.index), len(STATS), self.cells))
            grown[: self.sums.shape[0]] = self.sums
            self.sums = grown

    def _position(self, level: Level) -> int:
        return self.index.setdefault(level, len(self.index))

    def margin(self, edges: FloatArray) -> Margin:
        levels = sorted(self.index, key=level_sort_key)
        stats = self.sums[[self.index[level] for level in levels]].transpose(0, 2, 1)
        shaped = stats.reshape(len(levels), edges.size - 1, len(LABEL_AXIS), len(STATS))
        return Margin(self.dims, tuple(levels), edges, shaped)


def add_columns(
    margins: list[LevelMargin],
    columns: list[Codes],
    kept: IntArray | None,
    keys: IntArray,
    terms: list[FloatArray],
) -> None:
    """Add one batch to the margins of single group columns, ``columns[i]`` coding the levels
    of ``margins[i]`` on every row of the batch, of which rows ``kept`` (all if None) count.

    Columns whose level combinations fit in :data:`JOINT_CELLS` are summed together over the
    joint (level, ..., cell) key, and each column's sums taken from the joint ones: a pack of k
    columns costs one set of bincounts instead of k. Counts are exact either way; float sums
    only add the same rows in another order.
    """
    cells = margins[0].cells if margins else 0
    for pack in plan_packs([len(values) for _, values in columns], cells):
        if len(pack) == 1:
            codes, values = columns[pack[0]]
            margins[pack[0]].add(take(codes, kept), values, keys, terms)
            continue
        shape = [len(columns[i][1]) for i in pack]
        joint = joint_codes([columns[i][0] for i in pack], shape)
        key = take(joint, kept)  # a new array either way: built in place
        key *= cells
        key += keys
        sums = stat_sums(key, terms, math.prod(shape) * cells)
        sums = sums.reshape(len(STATS), *shape, cells)
        for axis, i in enumerate(pack, start=1):
            others = tuple(a for a in range(1, len(pack) + 1) if a != axis)
            margins[i].add_sums(columns[i][1], sums.sum(axis=others))


def plan_packs(sizes: list[int], cells: int) -> list[list[int]]:
    """Columns (by position) summed together: fewest levels first, each pack's level
    combinations times ``cells`` within :data:`JOINT_CELLS`; a column too large for any pack
    stands alone."""
    packs: list[list[int]] = []
    product = 0
    for i in sorted(range(len(sizes)), key=lambda i: sizes[i]):
        if packs and product * sizes[i] * cells <= JOINT_CELLS:
            packs[-1].append(i)
            product *= sizes[i]
        else:
            packs.append([i])
            product = sizes[i]
    return packs


def joint_codes(codes: list[IntArray], shape: list[int]) -> IntArray:
    """Row-major code of each row's level combination (``codes[i] < shape[i]``)."""
    joint = codes[0].astype(np.intp, copy=True)
    for part, size in zip(codes[1:], shape[1:], strict=True):
        joint *= size
        joint += part
    return joint


def take(values: _Rows, kept: IntArray | None) -> _Rows:
    """``values[kept]``, or ``values`` itself when every row is kept."""
    return values if kept is None else cast(_Rows, values[kept])


def _add_rows(array: FloatArray, rows: list[int], values: FloatArray) -> None:
    """``array[rows] += values``, also when ``rows`` repeats (np.add.at is slow, so only then)."""
    if len(set(rows)) == len(rows):
        array[rows] += values
    else:
        np.add.at(array, rows, values)
