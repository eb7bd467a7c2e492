"""What each event changes in the query tables: one row inserted, or some columns updated.

Pure data: no SQL here. :func:`merged` folds the updates of a row into its insert when
both are in one batch, and :func:`shapes` groups changes that can share one statement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from mentorship_contracts import CloudEvent, registry
from mentorship_contracts.enrollment import EmployeeProvisioned
from mentorship_kit.rows import Shape, Values


@dataclass(frozen=True, slots=True)
class RowChange:
    table: str
    key: str
    key_value: str
    values: Values
    insert: bool


# Every column an insert sets, so that all inserts of a table share one shape.
_INSERT_DEFAULTS: Final[dict[str, Values]] = {
    "programs": {"opened_on": None, "closed_on": None},
    "employees": {"left_on": None, "departure_reason": None, "erased_on": None},
    "enrollments": {"withdrawal_reason": None, "decided_on": None},
}
_KEYS: Final = {
    "programs": "program_id",
    "employees": "employee_id",
    "enrollments": "enrollment_id",
}


# The personal fields of an employee's record: what an erasure blanks in the row.
PERSONAL_RECORD_FIELDS: Final = tuple(
    path[1] for path in EmployeeProvisioned.personal_paths() if path[0] == "record"
)


def erased_values(employee_id: str, record: Mapping[str, Any], data: Mapping[str, Any]) -> Values:
    """What an EmployeeErased (``data``) changes in an employee's row holding ``record``."""
    _, login_key = login_keys(employee_id, None)
    return {
        "record": {**record, **dict.fromkeys(PERSONAL_RECORD_FIELDS)},
        "user_name_key": None,
        "login_key": login_key,
        "erased_on": _day(data["erased_on"]),
    }


def login_keys(employee_id: str, user_name: str | None) -> tuple[str | None, str]:
    """(user_name_key, login_key): how the directory finds a user by SCIM userName."""
    user_name_key = user_name.casefold() if user_name else None
    return user_name_key, user_name_key or employee_id.casefold()


def _day(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


Change = tuple[str, str, Values, bool]  # table, key value, values, insert?
Builder = Callable[[Mapping[str, Any], datetime], Change]


def _program_created(data: Mapping[str, Any], at: datetime) -> Change:
    settings = data["settings"]
    values = {"status": "draft", "name": settings["name"], "settings": settings}
    return "programs", data["program_id"], {**values, "created_at": at, "updated_at": at}, True


def _program_updated(data: Mapping[str, Any], at: datetime) -> Change:
    settings = data["settings"]
    values = {"name": settings["name"], "settings": settings, "updated_at": at}
    return "programs", data["program_id"], values, False


def _program_status(status: str, day_field: str | None = None) -> Builder:
    def build(data: Mapping[str, Any], at: datetime) -> Change:
        values: Values = {"status": status, "updated_at": at}
        if day_field is not None:
            values[day_field] = _day(data[day_field])
        return "programs", data["program_id"], values, False

    return build


def _employee_record(data: Mapping[str, Any]) -> Values:
    record = data["record"]
    user_name_key, login_key = login_keys(data["employee_id"], record.get("user_name"))
    return {"record": record, "user_name_key": user_name_key, "login_key": login_key}


def _employee_provisioned(data: Mapping[str, Any], at: datetime) -> Change:
    values = {"status": "active", "deprovisioned": False, "created_at": at, "updated_at": at}
    return "employees", data["employee_id"], {**values, **_employee_record(data)}, True


def _employee_updated(data: Mapping[str, Any], at: datetime) -> Change:
    return "employees", data["employee_id"], {"updated_at": at, **_employee_record(data)}, False


def _employee_departed(data: Mapping[str, Any], at: datetime) -> Change:
    values = {
        "status": "departed",
        "left_on": _day(data["left_on"]),
        "departure_reason": data["reason"],
        "deprovisioned": bool(data.get("deprovisioned", False)),
        "updated_at": at,
    }
    return "employees", data["employee_id"], values, False


def _employee_reinstated(data: Mapping[str, Any], at: datetime) -> Change:
    values = {
        "status": "active",
        "left_on": None,
        "departure_reason": None,
        "deprovisioned": False,
        "updated_at": at,
    }
    return "employees", data["employee_id"], values, False


def _application_submitted(data: Mapping[str, Any], at: datetime) -> Change:
    values = {
        "program_id": data["program_id"],
        "employee_id": data["employee_id"],
        "role": data["role"],
        "status": "pending_approval",
        "profile": data["profile"],
        "reasons": [],
        "submitted_on": _day(data["submitted_on"]),
        "updated_at": at,
    }
    return "enrollments", data["enrollment_id"], values, True


def _enrollment_decided(status: str, day_field: str, carried: str | None = None) -> Builder:
    """A decision; ``carried`` names what else the event sets (profile or reasons)."""

    def build(data: Mapping[str, Any], at: datetime) -> Change:
        values: Values = {"status": status, "decided_on": _day(data[day_field]), "updated_at": at}
        if carried is not None:
            values[carried] = data[carried]
        if status == "withdrawn":
            values["withdrawal_reason"] = data["reason"]
        return "enrollments", data["enrollment_id"], values, False

    return build


def _profile_updated(data: Mapping[str, Any], at: datetime) -> Change:
    values = {"profile": data["profile"], "updated_at": at}
    return "enrollments", data["enrollment_id"], values, False


_BUILDERS: Final[dict[str, Builder]] = {
    "ProgramCreated": _program_created,
    "ProgramUpdated": _program_updated,
    "ProgramOpened": _program_status("open", "opened_on"),
    "ProgramClosed": _program_status("closed", "closed_on"),
    "ProgramArchived": _program_status("archived"),
    "EmployeeProvisioned": _employee_provisioned,
    "EmployeeUpdated": _employee_updated,
    # EmployeePromoted changes no row: the new level came with the EmployeeUpdated before it.
    "EmployeeDeparted": _employee_departed,
    "EmployeeReinstated": _employee_reinstated,
    "ApplicationSubmitted": _application_submitted,
    "ParticipantEnrolled": _enrollment_decided("enrolled", "enrolled_on", "profile"),
    "ApplicationWaitlisted": _enrollment_decided("waitlisted", "waitlisted_on"),
    "ApplicationRejected": _enrollment_decided("rejected", "rejected_on", "reasons"),
    "ParticipantWithdrew": _enrollment_decided("withdrawn", "withdrew_on"),
    "ParticipantProfileUpdated": _profile_updated,
}


def row_change(event: CloudEvent) -> RowChange | None:
    """The change ``event`` makes, or None for an event no table shows."""
    build = _BUILDERS.get(event.eventtype)
    if build is None:
        return None
    data = registry().upcast(event.eventtype, event.schemaversion, event.data)
    table, key_value, values, insert = build(data, event.time)
    if insert:
        values = {**_INSERT_DEFAULTS[table], **values}
    return RowChange(table, _KEYS[table], key_value, values, insert)


def merged(changes: list[RowChange]) -> list[RowChange]:
    """The same changes, with updates of a row inserted in this batch folded into its insert.

    Order is kept per row; a row's insert always comes first in its history.
    """
    result: list[RowChange] = []
    inserted: dict[tuple[str, str], int] = {}
    for change in changes:
        place = inserted.get((change.table, change.key_value))
        if change.insert:
            inserted[(change.table, change.key_value)] = len(result)
            result.append(change)
        elif place is not None:
            first = result[place]
            values = {**first.values, **change.values}
            result[place] = RowChange(first.table, first.key, first.key_value, values, insert=True)
        else:
            result.append(change)
    return result


def shapes(changes: list[RowChange]) -> list[tuple[Shape, list[Values]]]:
    """Batches of rows that share a statement, in an order that respects each row's history.

    When no row has two changes, rows are independent and every shape is one batch;
    otherwise only consecutive changes of one shape are batched together.
    """

    def shape_of(change: RowChange) -> Shape:
        return Shape(change.table, change.key, tuple(sorted(change.values)), change.insert)

    def row_of(change: RowChange) -> Values:
        return {change.key: change.key_value, **change.values}

    independent = len({(c.table, c.key_value) for c in changes}) == len(changes)
    batches: list[tuple[Shape, list[Values]]] = []
    by_shape: dict[Shape, list[Values]] = {}
    for change in changes:
        shape = shape_of(change)
        if independent:
            if shape not in by_shape:
                by_shape[shape] = []
                batches.append((shape, by_shape[shape]))
            by_shape[shape].append(row_of(change))
        elif batches and batches[-1][0] == shape:
            batches[-1][1].append(row_of(change))
        else:
            batches.append((shape, [row_of(change)]))
    return batches
