"""Retention over a window, as API.md defines it.

``start = as_of - window_days``. Headcount = the group's members employed at ``start``
(hired on or before it, not departed before it). Retained = those of them not departed
on or before ``as_of``: the employment spell that covered ``start`` has not ended by
``as_of``. An employee who left and was rehired has several spells; a departure undone
before it took effect leaves one.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from analytics.domain.facts import Employee, Participation
from analytics.domain.privacy import Suppression, ratio

RATE_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Group:
    """One group's retention; every value None when the group is suppressed."""

    headcount: int | None
    retained: int | None
    rate: float | None
    suppressed: bool


@dataclass(frozen=True, slots=True)
class Window:
    start: date
    as_of: date

    @classmethod
    def ending(cls, as_of: date, window_days: int) -> Window:
        return cls(days_before(as_of, window_days), as_of)


def days_before(day: date, days: int) -> date:
    """``day - days``, or the first representable date when that is earlier."""
    if (day - date.min).days < days:
        return date.min
    return day - timedelta(days=days)


def group_retention(members: Iterable[Employee], window: Window, suppression: Suppression) -> Group:
    headcount = retained = 0
    for employee in members:
        spell = employee.spell_at(window.start)
        if spell is None:
            continue
        headcount += 1
        if spell.ended_on is None or spell.ended_on > window.as_of:
            retained += 1
    if suppression.hides(headcount):
        return Group(None, None, None, suppressed=True)
    return Group(headcount, retained, ratio(retained, headcount, RATE_DIGITS), suppressed=False)


def participants_by_role(
    participations: Iterable[Participation], as_of: date
) -> dict[str, set[str]]:
    """Employees whose enrollment in a role is or was approved on or before ``as_of``."""
    roles: dict[str, set[str]] = {"mentor": set(), "mentee": set()}
    for p in participations:
        if p.enrolled_on <= as_of:
            roles.setdefault(p.role, set()).add(p.employee_id)
    return roles


@dataclass(frozen=True, slots=True)
class ProgramRetention:
    window: Window
    mentees: Group
    mentors: Group
    non_participants: Group


def program_retention(
    employees: Collection[Employee],
    program_participations: Iterable[Participation],
    participants_anywhere: Collection[str],
    window: Window,
    suppression: Suppression,
) -> ProgramRetention:
    """Mentees and mentors of one program against employees in no program at all.

    ``participants_anywhere`` holds every employee with an approval in any program on
    or before ``as_of``.
    """
    roles = participants_by_role(program_participations, window.as_of)

    def of(ids: Collection[str]) -> Callable[[Employee], bool]:
        return lambda employee: employee.employee_id in ids

    others = [e for e in employees if e.employee_id not in participants_anywhere]
    return ProgramRetention(
        window=window,
        mentees=group_retention(filter(of(roles["mentee"]), employees), window, suppression),
        mentors=group_retention(filter(of(roles["mentor"]), employees), window, suppression),
        non_participants=group_retention(others, window, suppression),
    )


@dataclass(frozen=True, slots=True)
class OrganisationGroup:
    key: str | None
    participants: Group
    non_participants: Group


def organisation_retention(
    employees: Iterable[Employee],
    participants_anywhere: Collection[str],
    window: Window,
    suppression: Suppression,
    key_of: Callable[[Employee], str | None],
) -> list[OrganisationGroup]:
    """Participants against non-participants per group (e.g. department).

    The groups listed are those of every employee in the directory by ``as_of`` (first
    employed on or before it), sorted by key with the unknown group last.
    """
    groups: dict[str | None, list[Employee]] = {}
    for employee in employees:
        if employee.first_day <= window.as_of:
            groups.setdefault(key_of(employee), []).append(employee)
    answer = []
    for key in sorted(groups, key=lambda k: (k is None, k or "")):
        members = groups[key]
        answer.append(
            OrganisationGroup(
                key=key,
                participants=group_retention(
                    (e for e in members if e.employee_id in participants_anywhere),
                    window,
                    suppression,
                ),
                non_participants=group_retention(
                    (e for e in members if e.employee_id not in participants_anywhere),
                    window,
                    suppression,
                ),
            )
        )
    return answer
