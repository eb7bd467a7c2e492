"""A pool and a request turned into arrays: the form every factor and solver works on.

Candidates are sorted by employee id first, so the arrays (and therefore every score,
tie-break and result) do not depend on the order the pool was loaded in.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from matching.domain.engine.errors import DuplicateCandidateError, MatchingInputError
from matching.domain.engine.indicators import Indicator, vocabulary
from matching.domain.engine.model import (
    CandidateProfile,
    DepartmentPreference,
    MatchFormat,
    MatchPool,
    MatchRequest,
    Role,
)
from matching.domain.engine.timezones import overlap_hours, utc_offset_hours
from matching.domain.engine.weights import check_attribute, resolve_weights

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

_DEFAULT_GAPS: Mapping[MatchFormat, tuple[int, int]] = {
    MatchFormat.ONE_TO_ONE: (1, 3),
    MatchFormat.GROUP: (1, 3),
    MatchFormat.REVERSE: (1, 3),
    MatchFormat.PEER: (0, 1),
}
_HOURS_PER_DAY = 24.0


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the market (mentees, mentors, or all peers), in employee-id order."""

    ids: tuple[str, ...]
    profiles: tuple[CandidateProfile, ...]
    person: Ints
    manager: Ints
    skip_manager: Ints
    sought: Indicator
    offered: Indicator
    goals: Indicator
    interests: Indicator
    languages: Indicator
    timezone: Ints
    department: Ints
    level: Ints
    capacity: Ints

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True)
class SparsePairs:
    """A set of (left, right) index pairs, sorted, e.g. every reporting-line conflict."""

    rows: Ints
    cols: Ints

    @classmethod
    def of(cls, rows: Ints, cols: Ints) -> SparsePairs:
        if len(rows) == 0:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int64))
        keys = np.unique(np.stack([rows, cols], axis=1), axis=0)
        return cls(keys[:, 0].astype(np.int64), keys[:, 1].astype(np.int64))


@dataclass(frozen=True, slots=True)
class Problem:
    """Everything the scorer and the solvers need, as arrays."""

    request: MatchRequest
    weights: Mapping[str, float]
    must_have: frozenset[str]
    left: Side
    right: Side
    peer: bool
    timezone_value: Floats
    timezone_ok: Floats
    department_value: Floats
    seniority_value: Floats
    reporting_conflicts: SparsePairs
    same_person: SparsePairs
    blocked: SparsePairs
    previous: SparsePairs


def encode(pool: MatchPool, request: MatchRequest) -> Problem:
    weights = resolve_weights(request.weights)
    for attribute in request.constraints.must_have:
        check_attribute(attribute)
    _check_request(request)
    peer = request.format is MatchFormat.PEER
    if peer:
        left_profiles = right_profiles = _unique_sorted(pool.candidates)
    else:
        left_profiles = _unique_sorted(c for c in pool.candidates if c.role is Role.MENTEE)
        right_profiles = _unique_sorted(c for c in pool.candidates if c.role is Role.MENTOR)
    everyone = (*left_profiles, *right_profiles)
    directory = _reporting_lines(pool, everyone)
    people = {employee: code for code, employee in enumerate(sorted(directory))}
    offsets = _offsets(everyone, request)
    offset_table = sorted(set(offsets.values()))
    departments = sorted({c.department for c in everyone if c.department is not None})
    levels = sorted({c.job_level for c in everyone})
    skills = vocabulary((c.skills_sought for c in everyone), (c.skills_offered for c in everyone))
    codes = {
        "goals": vocabulary(c.goals for c in everyone),
        "interests": vocabulary(c.interests for c in everyone),
        "languages": vocabulary(c.languages for c in everyone),
    }
    tables = _Tables(people, directory, offsets, offset_table, departments, levels, skills, codes)
    left = _side(left_profiles, tables, request, mentors=peer)
    right = left if peer else _side(right_profiles, tables, request, mentors=True)
    hours = overlap_hours(
        np.asarray(offset_table, dtype=np.float64),
        np.asarray(offset_table, dtype=np.float64),
        request.working_hours,
    )
    minimum = request.constraints.min_timezone_overlap_hours
    return Problem(
        request=request,
        weights=weights,
        must_have=frozenset(request.constraints.must_have),
        left=left,
        right=right,
        peer=peer,
        timezone_value=hours / (request.working_hours[1] - request.working_hours[0]),
        timezone_ok=(hours >= (minimum if minimum is not None else 0.0)).astype(np.float64),
        department_value=_department_table(len(departments), request.department_preference),
        seniority_value=_seniority_table(np.asarray(levels, dtype=np.int64), request),
        reporting_conflicts=_reporting_conflicts(left, right)
        if request.constraints.exclude_reporting_line
        else SparsePairs.of(np.zeros(0, np.int64), np.zeros(0, np.int64)),
        same_person=_join(left.person, right.person),
        blocked=_named_pairs(left, right, request.constraints.blocked_pairs),
        previous=_named_pairs(left, right, request.constraints.previous_pairs),
    )


def _offsets(everyone: Sequence[CandidateProfile], request: MatchRequest) -> dict[str, float]:
    """UTC offset per candidate; each distinct timezone is resolved once."""
    by_zone: dict[str | float, float] = {}
    offsets: dict[str, float] = {}
    for candidate in everyone:
        zone = candidate.timezone
        if zone not in by_zone:
            by_zone[zone] = utc_offset_hours(candidate.employee_id, zone, request.reference_date)
        offsets[candidate.employee_id] = by_zone[zone]
    return offsets


def _check_request(request: MatchRequest) -> None:
    start, end = request.working_hours
    if not 0.0 < end - start <= _HOURS_PER_DAY:
        raise MatchingInputError("working_hours", "working hours must span (0, 24] hours")
    minimum = request.constraints.min_timezone_overlap_hours
    if minimum is not None and minimum < 0:
        raise MatchingInputError(
            "constraints.min_timezone_overlap_hours", "minimum overlap must not be negative"
        )
    if request.group_size < 1:
        raise MatchingInputError("group_size", "group size must be at least 1")
    if request.seniority_tolerance < 0:
        raise MatchingInputError("seniority_tolerance", "tolerance must not be negative")
    if request.default_capacity < 0:
        raise MatchingInputError("default_capacity", "capacity must not be negative")
    gap = request.seniority_gap
    if gap is not None and gap[0] > gap[1]:
        raise MatchingInputError("seniority_gap", "preferred gap must be (min, max), min <= max")


def _unique_sorted(candidates: Iterable[CandidateProfile]) -> tuple[CandidateProfile, ...]:
    ordered = sorted(candidates, key=lambda c: c.employee_id)
    for before, after in itertools.pairwise(ordered):
        if before.employee_id == after.employee_id:
            raise DuplicateCandidateError(after.employee_id)
    for candidate in ordered:
        if candidate.capacity is not None and candidate.capacity < 0:
            raise MatchingInputError("capacity", f"capacity of {candidate.employee_id!r} < 0")
    return tuple(ordered)


def _reporting_lines(
    pool: MatchPool, everyone: Sequence[CandidateProfile]
) -> dict[str, str | None]:
    """Employee -> manager for everyone known, candidates' own manager ids winning."""
    lines: dict[str, str | None] = dict(pool.reporting_lines)
    for candidate in everyone:
        lines[candidate.employee_id] = candidate.manager_id
    for manager in list(lines.values()):
        if manager is not None:
            lines.setdefault(manager, None)
    return lines


@dataclass(frozen=True, slots=True)
class _Tables:
    people: Mapping[str, int]
    directory: Mapping[str, str | None]
    offsets: Mapping[str, float]
    offset_table: Sequence[float]
    departments: Sequence[str]
    levels: Sequence[int]
    skills: Mapping[str, int]
    codes: Mapping[str, Mapping[str, int]]


def _side(
    profiles: tuple[CandidateProfile, ...],
    tables: _Tables,
    request: MatchRequest,
    *,
    mentors: bool,
) -> Side:
    def manager_of(employee: str | None) -> str | None:
        return tables.directory.get(employee) if employee is not None else None

    def code(employee: str | None) -> int:
        return tables.people[employee] if employee is not None else -1

    offset_code = {offset: index for index, offset in enumerate(tables.offset_table)}
    department_code = {name: index for index, name in enumerate(tables.departments)}
    unknown_department = len(tables.departments)
    level_code = {level: index for index, level in enumerate(tables.levels)}
    return Side(
        ids=tuple(c.employee_id for c in profiles),
        profiles=profiles,
        person=_ints(code(c.employee_id) for c in profiles),
        manager=_ints(code(manager_of(c.employee_id)) for c in profiles),
        skip_manager=_ints(code(manager_of(manager_of(c.employee_id))) for c in profiles),
        sought=Indicator.build([c.skills_sought for c in profiles], tables.skills),
        offered=Indicator.build([c.skills_offered for c in profiles], tables.skills),
        goals=Indicator.build([c.goals for c in profiles], tables.codes["goals"]),
        interests=Indicator.build([c.interests for c in profiles], tables.codes["interests"]),
        languages=Indicator.build([c.languages for c in profiles], tables.codes["languages"]),
        timezone=_ints(offset_code[tables.offsets[c.employee_id]] for c in profiles),
        department=_ints(
            department_code[c.department] if c.department is not None else unknown_department
            for c in profiles
        ),
        level=_ints(level_code[c.job_level] for c in profiles),
        capacity=_ints(_capacity(c, request) if mentors else 1 for c in profiles),
    )


def _capacity(candidate: CandidateProfile, request: MatchRequest) -> int:
    own = candidate.capacity if candidate.capacity is not None else request.default_capacity
    if request.format is MatchFormat.PEER:
        return 1
    if request.format is MatchFormat.GROUP:
        # A group mentor leads one group of up to k mentees; capacity 0 still opts out.
        return request.group_size if own > 0 else 0
    return own


def _ints(values: Iterable[int]) -> Ints:
    return np.fromiter(values, dtype=np.int64)


def _department_table(count: int, preference: DepartmentPreference) -> Floats:
    """Value by (department code, department code); the last code is 'unknown' (0)."""
    same = np.eye(count + 1, dtype=np.float64)
    known = np.ones((count + 1, count + 1), dtype=np.float64)
    known[count, :] = 0.0
    known[:, count] = 0.0
    table: Floats = same * known if preference is DepartmentPreference.SAME else (1 - same) * known
    return table


def _seniority_table(levels: Ints, request: MatchRequest) -> Floats:
    """Value by (left level code, right level code).

    The gap is mentor minus mentee level (mentee minus mentor when reverse, absolute
    for peers). Inside the preferred range the value is 1; each level outside it costs
    ``1 / (tolerance + 1)``, down to 0.
    """
    low, high = request.seniority_gap or _DEFAULT_GAPS[request.format]
    gap = np.subtract.outer(levels, levels).T  # gap[i, j] = level_j - level_i
    if request.format is MatchFormat.REVERSE:
        gap = -gap
    elif request.format is MatchFormat.PEER:
        gap = np.abs(gap)
    distance = np.maximum(np.maximum(low - gap, 0), gap - high).astype(np.float64)
    table: Floats = np.maximum(0.0, 1.0 - distance / (request.seniority_tolerance + 1))
    return table


def _join(left_codes: Ints, right_codes: Ints) -> SparsePairs:
    """Pairs (i, j) with ``left_codes[i] == right_codes[j] >= 0``, as a sort-merge join."""
    order = np.argsort(right_codes, kind="stable")
    sorted_codes = right_codes[order]
    valid = np.flatnonzero(left_codes >= 0)
    starts = np.searchsorted(sorted_codes, left_codes[valid], side="left")
    counts = np.searchsorted(sorted_codes, left_codes[valid], side="right") - starts
    total = int(counts.sum())
    rows = np.repeat(valid, counts)
    within = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    cols = order[np.repeat(starts, counts) + within]
    return SparsePairs.of(rows.astype(np.int64), cols.astype(np.int64))


def _reporting_conflicts(left: Side, right: Side) -> SparsePairs:
    """Manager, skip-level manager (either direction) and same-manager pairs."""
    joins = [
        _join(left.manager, right.person),
        _join(left.skip_manager, right.person),
        _join(left.person, right.manager),
        _join(left.person, right.skip_manager),
        _join(left.manager, right.manager),
    ]
    return SparsePairs.of(
        np.concatenate([j.rows for j in joins]), np.concatenate([j.cols for j in joins])
    )


def _named_pairs(left: Side, right: Side, pairs: Sequence[tuple[str, str]]) -> SparsePairs:
    left_index = {employee: i for i, employee in enumerate(left.ids)}
    right_index = {employee: j for j, employee in enumerate(right.ids)}
    rows: list[int] = []
    cols: list[int] = []
    for a, b in pairs:
        for x, y in ((a, b), (b, a)):
            if x in left_index and y in right_index:
                rows.append(left_index[x])
                cols.append(right_index[y])
    return SparsePairs.of(np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))
