"""The three read models: one projection per source stream, each owning its fact tables.

One projection per source is what makes a read model rebuildable on its own: its
events come from exactly one JetStream stream (or one producer's event feed), and its
consumer's per-aggregate versions can be re-seeded by the kit's rebuild.

Every event changes at most one row, decided from the event's data in its canonical
JSON form (what the producers store and publish: ``EventContract.to_data()``):

- the consumer (:meth:`FactProjection.handle`) first validates the event against its
  contract — a malformed one raises and is dead-lettered — and decides from the
  validated contract's canonical data;
- a replay (:meth:`FactProjection.handle_batch`) decides from the data as it comes,
  without validating every event again (that is most of the cost of a replay); an
  event the decision cannot read is skipped and counted, as the consumer dead-letters
  it.

One decision path for both is what makes a rebuild equal the consumer's work. A change
carries the row to start from when the entity is still unknown — built from the ids
the event carries — so an event whose entity's first event never arrived still yields
a row.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Final, Self

import orjson
import sqlalchemy as sa
import structlog
from prometheus_client import Counter
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics.adapters import tables
from analytics.adapters.rows import KnownKeys, Row, RowChange, apply_changes
from mentorship_contracts import CloudEvent, registry
from mentorship_contracts import enrollment as en
from mentorship_contracts import matching as ma
from mentorship_contracts import sessions as se
from mentorship_kit.projection import Projection

log = structlog.get_logger(__name__)

SKIPPED = Counter(
    "analytics_replay_events_skipped_total",
    "Events a batch replay skipped because they cannot be read "
    "(the live consumer dead-letters the same events).",
    ["service", "read_model"],
)

_SERVICE: Final = "analytics"

Data = Mapping[str, Any]
Change = Callable[[Data, CloudEvent], RowChange | None]


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


@functools.lru_cache(maxsize=4096)
def _day(value: Any) -> date | None:
    """An ISO date (cached: a history repeats the same few thousand days)."""
    return None if value is None else date.fromisoformat(value)


def current_data(event: CloudEvent, schema_version: int) -> Data:
    """The event's data at the contract's current schema version."""
    if event.schemaversion == schema_version:
        return event.data
    return registry().upcast(event.eventtype, event.schemaversion, event.data)


_PLANS: dict[int, dict[str, tuple[Change, int]]] = {}


def _plan(changes: Mapping[str, Change]) -> dict[str, tuple[Change, int]]:
    """Per event type: how it changes a row, and its contract's current schema version
    (worked out once per projection class: the tables of changes are module constants)."""
    plan = _PLANS.get(id(changes))
    if plan is None:
        plan = {name: (make, registry().get(name).schema_version) for name, make in changes.items()}
        _PLANS[id(changes)] = plan
    return plan


class FactProjection(Projection):
    """A projection whose events become row changes applied in bulk."""

    source: ClassVar[str]
    changes: ClassVar[Mapping[str, Change]]
    # Bound to empty tables of its own (a rebuild): the keys written so far, per table.
    _known: KnownKeys | None = None

    def bind_empty(self, tables: Mapping[str, sa.Table]) -> Self:
        """Bound to a rebuild's empty shadow tables: rows of keys this copy has not
        written yet are copied in, not upserted (see :func:`apply_changes`)."""
        bound = self.bind(tables)
        bound._known = {}  # noqa: SLF001 - a copy of our own class
        return bound

    def _live_tables(self) -> dict[str, Any]:
        return {name: self.table(name) for name in self.table_names}

    async def handle(self, conn: AsyncConnection, event: CloudEvent) -> None:
        """One event, as the consumer delivers it; a malformed one raises (dead letter)."""
        make = self.changes.get(event.eventtype)
        if make is None:
            return
        contract = registry().parse(event.eventtype, event.schemaversion, event.data)
        change = make(contract.to_data(), event)
        if change is not None:
            await apply_changes(conn, self._live_tables(), [change], known=self._known)

    async def handle_batch(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        """Many events with one read and one write per table (rebuilds, catch-up)."""
        await apply_changes(conn, self._live_tables(), self._replayed(events), known=self._known)

    def _replayed(self, events: Sequence[CloudEvent]) -> Iterator[RowChange]:
        """The events' changes, made as ``apply_changes`` takes them (none kept)."""
        plan = _plan(self.changes)
        for event in events:
            step = plan.get(event.eventtype)
            if step is None:
                continue
            make, schema_version = step
            try:
                change = make(current_data(event, schema_version), event)
            except (KeyError, TypeError, ValueError, LookupError, ValidationError) as exc:
                SKIPPED.labels(_SERVICE, self.name).inc()
                log.warning("analytics.replay_skipped", event_id=event.id, error=repr(exc))
                continue
            if change is not None:
                yield change


# -- enrollment: directory, programs, enrollments ---------------------------------------

_EMPLOYEES: Final = tables.employees.name
_PROGRAMS: Final = tables.programs.name
_ENROLLMENTS: Final = tables.enrollments.name


def _employee(employee_id: str, listed_on: date) -> Row:
    return {
        "employee_id": employee_id,
        "department": None,
        "job_level": None,
        "hired_on": None,
        "listed_on": listed_on,
        "status": "active",
        "spells": _json([[None, None]]),
    }


def _spells(row: Row) -> list[list[str | None]]:
    spells: list[list[str | None]] = orjson.loads(row["spells"])
    return spells


def _departed(row: Row, values: Row) -> Row:
    """Close the current spell; a departure restated (deprovisioning) re-dates it."""
    spells = _spells(row)
    spells[-1][1] = values["left_on"].isoformat()
    return {**row, "status": "departed", "spells": _json(spells)}


def _reinstated(row: Row, values: Row) -> Row:
    """A new spell from the reinstatement — or, when that is not after the departure
    date, the departure undone (it had not taken effect yet)."""
    back_on: date = values["reinstated_on"]
    spells = _spells(row)
    ended = spells[-1][1]
    if ended is None:
        return row
    if back_on <= date.fromisoformat(ended):
        spells[-1][1] = None
    else:
        spells.append([back_on.isoformat(), None])
    return {**row, "status": "active", "spells": _json(spells)}


def _employee_change(
    data: Data, envelope: CloudEvent, values: Row, fold: Callable[[Row, Row], Row] | None = None
) -> RowChange:
    employee_id = str(data["employee_id"])
    base = _employee(employee_id, envelope.time.astimezone(UTC).date())
    return RowChange(_EMPLOYEES, employee_id, values, base, fold)


def _record_change(data: Data, envelope: CloudEvent) -> RowChange:
    record = data["record"]
    values = {
        "department": record.get("department"),
        "job_level": record.get("job_level"),
        "hired_on": _day(record.get("hired_on")),
    }
    return _employee_change(data, envelope, values)


def _program_change(data: Data, values: Row) -> RowChange:
    program_id = str(data["program_id"])
    base = {
        "program_id": program_id,
        "name": "",
        "status": "draft",
        "starts_on": None,
        "ends_on": None,
        "cadence_days": None,
        "opened_on": None,
        "closed_on": None,
        "kpi_targets": "[]",
    }
    return RowChange(_PROGRAMS, program_id, values, base)


def _settings_change(data: Data, _: CloudEvent) -> RowChange:
    settings = data["settings"]
    targets = [
        {"metric": str(t["metric"]), "target": float(t["target"])}
        for t in settings.get("kpi_targets", [])
    ]
    return _program_change(
        data,
        {
            "name": settings["name"],
            "starts_on": _day(settings["starts_on"]),
            "ends_on": _day(settings.get("ends_on")),
            "cadence_days": int(settings["cadence_days"]),
            "kpi_targets": _json(targets),
        },
    )


def _enrollment_change(
    data: Data, values: Row, fold: Callable[[Row, Row], Row] | None = None
) -> RowChange:
    enrollment_id = str(data["enrollment_id"])
    base = {
        "enrollment_id": enrollment_id,
        "program_id": data["program_id"],
        "employee_id": data["employee_id"],
        "role": data["role"],
        "status": "submitted",
        "submitted_on": None,
        "enrolled_on": None,
        "waitlisted_on": None,
        "rejected_on": None,
        "withdrew_on": None,
        "withdraw_reason": None,
    }
    return RowChange(_ENROLLMENTS, enrollment_id, values, base, fold)


def _first_approval(row: Row, values: Row) -> Row:
    """Enrolled now; an enrollment keeps the date it was first approved."""
    return {**row, "status": "enrolled", "enrolled_on": row["enrolled_on"] or values["enrolled_on"]}


DIRECTORY_CHANGES: Mapping[str, Change] = {
    "ProgramCreated": _settings_change,
    "ProgramUpdated": _settings_change,
    "ProgramOpened": lambda d, _: _program_change(
        d, {"status": "open", "opened_on": _day(d["opened_on"])}
    ),
    "ProgramClosed": lambda d, _: _program_change(
        d, {"status": "closed", "closed_on": _day(d["closed_on"])}
    ),
    "ProgramArchived": lambda d, _: _program_change(d, {"status": "archived"}),
    "EmployeeProvisioned": _record_change,
    "EmployeeUpdated": _record_change,
    "EmployeePromoted": lambda d, c: _employee_change(d, c, {"job_level": int(d["to_level"])}),
    "EmployeeDeparted": lambda d, c: _employee_change(
        d, c, {"left_on": _day(d["left_on"])}, _departed
    ),
    "EmployeeReinstated": lambda d, c: _employee_change(
        d, c, {"reinstated_on": _day(d["reinstated_on"])}, _reinstated
    ),
    "ApplicationSubmitted": lambda d, _: _enrollment_change(
        d, {"submitted_on": _day(d["submitted_on"])}
    ),
    "ParticipantEnrolled": lambda d, _: _enrollment_change(
        d, {"enrolled_on": _day(d["enrolled_on"])}, _first_approval
    ),
    "ApplicationWaitlisted": lambda d, _: _enrollment_change(
        d, {"status": "waitlisted", "waitlisted_on": _day(d["waitlisted_on"])}
    ),
    "ApplicationRejected": lambda d, _: _enrollment_change(
        d, {"status": "rejected", "rejected_on": _day(d["rejected_on"])}
    ),
    "ParticipantWithdrew": lambda d, _: _enrollment_change(
        d,
        {
            "status": "withdrawn",
            "withdrew_on": _day(d["withdrew_on"]),
            "withdraw_reason": d["reason"],
        },
    ),
}


class DirectoryProjection(FactProjection):
    """Employees (with employment spells), programs and enrollments."""

    name = "directory"
    source = en.SERVICE
    changes = DIRECTORY_CHANGES

    def __init__(self) -> None:
        super().__init__(tables.employees, tables.programs, tables.enrollments)


# -- matching: pairs ---------------------------------------------------------------------

_PAIRS: Final = tables.pairs.name


def _pair_change(data: Data, values: Row) -> RowChange:
    pair_id = str(data["pair_id"])
    base = {
        "pair_id": pair_id,
        "program_id": data["program_id"],
        "mentor_id": data["mentor_id"],
        "mentee_id": data["mentee_id"],
        "status": "proposed",
        "format": None,
        "proposed_on": None,
        "declined_on": None,
        "formed_on": None,
        "ended_on": None,
        "end_reason": None,
    }
    return RowChange(_PAIRS, pair_id, values, base)


PAIR_CHANGES: Mapping[str, Change] = {
    "PairProposed": lambda d, _: _pair_change(
        d, {"proposed_on": _day(d["proposed_on"]), "format": d["format"]}
    ),
    "PairFormed": lambda d, _: _pair_change(
        d, {"status": "active", "formed_on": _day(d["formed_on"]), "format": d["format"]}
    ),
    "PairDeclined": lambda d, _: _pair_change(
        d, {"status": "declined", "declined_on": _day(d["declined_on"])}
    ),
    "PairEnded": lambda d, _: _pair_change(
        d, {"status": "ended", "ended_on": _day(d["ended_on"]), "end_reason": d["reason"]}
    ),
}


class PairsProjection(FactProjection):
    """Pairs: proposed, formed (active), declined, ended — with their dates."""

    name = "pairs"
    source = ma.SERVICE
    changes = PAIR_CHANGES

    def __init__(self) -> None:
        super().__init__(tables.pairs)


# -- sessions: sessions, goals, feedback, check-ins, fit checks --------------------------

_SESSIONS: Final = tables.sessions.name
_GOALS: Final = tables.goals.name
_FEEDBACK: Final = tables.feedback.name
_CHECKINS: Final = tables.checkins.name
_FIT_CHECKS: Final = tables.fit_checks.name


def _session_change(data: Data, values: Row) -> RowChange:
    session_id = str(data["session_id"])
    base = {
        "session_id": session_id,
        "pair_id": data["pair_id"],
        "program_id": data["program_id"],
        "status": "scheduled",
        "scheduled_on": None,
        "held_on": None,
        "duration_minutes": None,
        "closed_on": None,
    }
    return RowChange(_SESSIONS, session_id, values, base)


def _goal_change(data: Data, values: Row) -> RowChange:
    goal_id = str(data["goal_id"])
    base = {
        "goal_id": goal_id,
        "pair_id": data["pair_id"],
        "program_id": data["program_id"],
        "mentee_id": None,
        "set_on": None,
        "achieved_on": None,
        "dropped_on": None,
        "progress": 0,
    }
    return RowChange(_GOALS, goal_id, values, base)


def _planned(data: Data, _: CloudEvent) -> RowChange:
    planned = datetime.fromisoformat(data["scheduled_for"]).astimezone(UTC).date()
    return _session_change(data, {"scheduled_on": planned})


def _feedback(data: Data, envelope: CloudEvent) -> RowChange:
    feedback_id = str(data["feedback_id"])
    row = {
        "feedback_id": feedback_id,
        "pair_id": data["pair_id"],
        "program_id": data["program_id"],
        "respondent_id": data["respondent_id"],
        "respondent_role": data["respondent_role"],
        "kind": data["kind"],
        "rating": int(data["rating"]),
        "nps": None if data.get("nps") is None else int(data["nps"]),
        "session_id": data.get("session_id"),
        "submitted_on": _day(data["submitted_on"]),
        "recorded_at": envelope.time,
    }
    return RowChange(_FEEDBACK, feedback_id, row, None)


def _checkin(data: Data, _: CloudEvent) -> RowChange:
    feedback_id = str(data["feedback_id"])
    row = {
        "feedback_id": feedback_id,
        "pair_id": data["pair_id"],
        "program_id": data["program_id"],
        "respondent_id": data["respondent_id"],
        "relationship_quality": int(data["relationship_quality"]),
        "nps": int(data["nps"]),
        "completed_on": _day(data["completed_on"]),
    }
    return RowChange(_CHECKINS, feedback_id, row, None)


def _fit_check(*, passed: bool) -> Change:
    def change(data: Data, _: CloudEvent) -> RowChange:
        feedback_id = str(data["feedback_id"])
        row = {
            "feedback_id": feedback_id,
            "pair_id": data["pair_id"],
            "program_id": data["program_id"],
            "respondent_id": data["respondent_id"],
            "passed": passed,
            "reported_on": _day(data["reported_on"]),
        }
        return RowChange(_FIT_CHECKS, feedback_id, row, None)

    return change


ACTIVITY_CHANGES: Mapping[str, Change] = {
    "SessionScheduled": _planned,
    "SessionRescheduled": _planned,
    "SessionLogged": lambda d, _: _session_change(
        d,
        {
            "status": "held",
            "held_on": _day(d["held_on"]),
            "duration_minutes": int(d["duration_minutes"]),
        },
    ),
    "SessionCancelled": lambda d, _: _session_change(
        d, {"status": d["outcome"], "closed_on": _day(d["cancelled_on"])}
    ),
    "GoalSet": lambda d, _: _goal_change(
        d, {"mentee_id": d["mentee_id"], "set_on": _day(d["set_on"])}
    ),
    "GoalProgressed": lambda d, _: _goal_change(d, {"progress": int(d["progress"])}),
    "GoalAchieved": lambda d, _: _goal_change(d, {"achieved_on": _day(d["achieved_on"])}),
    "GoalDropped": lambda d, _: _goal_change(d, {"dropped_on": _day(d["dropped_on"])}),
    "FeedbackSubmitted": _feedback,
    "CheckInCompleted": _checkin,
    "FitCheckFailed": _fit_check(passed=False),
    "FitCheckPassed": _fit_check(passed=True),
}


class ActivityProjection(FactProjection):
    """What pairs do: sessions, goals, feedback, check-ins and fit checks."""

    name = "activity"
    source = se.SERVICE
    changes = ACTIVITY_CHANGES

    def __init__(self) -> None:
        super().__init__(
            tables.sessions, tables.goals, tables.feedback, tables.checkins, tables.fit_checks
        )


def all_projections() -> list[FactProjection]:
    return [DirectoryProjection(), PairsProjection(), ActivityProjection()]
