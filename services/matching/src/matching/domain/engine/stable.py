"""Mentee-proposing deferred acceptance (Gale-Shapley) with mentor capacities.

Both sides rank by the pair score: a mentee prefers a higher-scoring mentor (ties: the
mentor first in id order), a mentor a higher-scoring mentee (ties: the mentee first in
id order). Only feasible pairs are acceptable. The result has no blocking pair: no
mentee and mentor who both strictly prefer each other to what they got (a mentor with a
free slot prefers any acceptable mentee to nothing), and it is the best stable result
for every mentee.

Rounds are vectorised: every free mentee proposes to the next mentor on their list at
once, each mentor keeps its best proposals up to capacity and rejects the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from matching.domain.engine.graph import Preferences

Ints = npt.NDArray[np.int64]


def deferred_acceptance(preferences: Preferences, capacity: Ints) -> Ints:
    """Mentor index per mentee (-1: unmatched)."""
    starts, ends = preferences.indptr[:-1], preferences.indptr[1:]
    n = len(starts)
    cursor = starts.copy()
    held_mentee = np.zeros(0, dtype=np.int64)
    held_mentor = np.zeros(0, dtype=np.int64)
    held_score = np.zeros(0, dtype=np.float64)
    free = np.flatnonzero(cursor < ends)
    while len(free):
        position = cursor[free]
        cursor[free] += 1
        mentees = np.concatenate([held_mentee, free])
        mentors = np.concatenate([held_mentor, preferences.cols[position]])
        scores = np.concatenate([held_score, preferences.scores[position]])
        # Group by mentor, best score first, lower mentee index first on ties.
        order = np.lexsort((mentees, -scores, mentors))
        grouped = mentors[order]
        rank = np.arange(len(order)) - np.searchsorted(grouped, grouped, side="left")
        keep = rank < capacity[grouped]
        kept, rejected = order[keep], order[~keep]
        held_mentee, held_mentor, held_score = mentees[kept], mentors[kept], scores[kept]
        free = mentees[rejected]
        free = free[cursor[free] < ends[free]]
    mentor_of = np.full(n, -1, dtype=np.int64)
    mentor_of[held_mentee] = held_mentor
    return mentor_of
