"""Set-valued attributes as bitsets (or sparse rows), so overlaps are cheap to count.

With up to 256 distinct values a person's set is packed into four 64-bit words and an
overlap is ``popcount(a & b)``: a few passes over the block instead of a matrix product
whose threads would fight over two cores. Larger vocabularies fall back to a sparse
product that costs only the actual memberships. Either way counts are exact integers.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

_BITSET_LIMIT = 256
_WORD = 64

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Words = npt.NDArray[np.uint64]


@functools.lru_cache(maxsize=65_536)
def normalise(token: str) -> str:
    """Attribute values compare case-insensitively and ignore surrounding blanks."""
    return token.strip().casefold()


def vocabulary(*groups: Iterable[frozenset[str]]) -> dict[str, int]:
    """Sorted distinct values, so codes do not depend on the order candidates came in."""
    values = {normalise(token) for group in groups for tokens in group for token in tokens}
    values.discard("")
    return {value: code for code, value in enumerate(sorted(values))}


@dataclass(frozen=True, slots=True)
class Indicator:
    """Row i marks the values person i holds; `sizes[i]` is how many."""

    csr: Any
    words: Words | None
    sizes: Floats

    @classmethod
    def build(cls, sets: Sequence[frozenset[str]], codes: Mapping[str, int]) -> Indicator:
        lengths = np.fromiter((len(s) for s in sets), dtype=np.int64, count=len(sets))
        flat = [codes.get(normalise(token), -1) for tokens in sets for token in tokens]
        rows = np.repeat(np.arange(len(sets), dtype=np.int64), lengths)
        cols = np.asarray(flat, dtype=np.int64)
        known = cols >= 0  # blank values have no code
        width = max(len(codes), 1)
        # Two spellings of one value ("Python", "python ") count once.
        cells = np.unique(rows[known] * width + cols[known])
        rows, cols = cells // width, cells % width
        csr = sparse.csr_matrix(
            (np.ones(len(cells), dtype=np.float64), (rows, cols)), shape=(len(sets), width)
        )
        sizes = np.bincount(rows, minlength=len(sets)).astype(np.float64)
        words = None
        if width <= _BITSET_LIMIT:
            words = np.zeros((len(sets), -(-width // _WORD)), dtype=np.uint64)
            bits = np.left_shift(np.uint64(1), (cols % _WORD).astype(np.uint64))
            np.bitwise_or.at(words, (rows, cols // _WORD), bits)
        return cls(csr=csr, words=words, sizes=sizes)

    def counts(self, rows: Ints, other: Indicator) -> Floats:
        """``|self[i] & other[j]|`` for every i in `rows` and every j."""
        if self.words is not None and other.words is not None:
            mine = self.words[rows]
            total = np.bitwise_count(mine[:, None, 0] & other.words[None, :, 0])
            if self.words.shape[1] > 1:
                total = total.astype(np.uint16)  # 256 shared values overflow a uint8
            for word in range(1, self.words.shape[1]):
                total += np.bitwise_count(mine[:, None, word] & other.words[None, :, word])
            counts: Floats = total.astype(np.float64)
            return counts
        return np.asarray((self.csr[rows] @ other.csr.T).toarray(), dtype=np.float64)

    def pair_counts(self, rows: Ints, other: Indicator, cols: Ints) -> Floats:
        """``|self[rows[k]] & other[cols[k]]|`` for each k."""
        if self.words is not None and other.words is not None:
            both = self.words[rows] & other.words[cols]
            per_pair: Floats = np.bitwise_count(both).sum(axis=1, dtype=np.int64).astype(np.float64)
            return per_pair
        if len(rows) == 0:
            return np.zeros(0, dtype=np.float64)
        product = self.csr[rows].multiply(other.csr[cols])
        return np.asarray(product.sum(axis=1), dtype=np.float64).ravel()
