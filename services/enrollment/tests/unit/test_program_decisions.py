"""Programs: settings checked across fields, and the draft → open ⇄ closed → archived life."""

from datetime import date
from functools import reduce

import pytest
from enrollment_factories import TODAY, settings

from enrollment.domain import programs
from enrollment.domain.errors import InvalidInputError, InvalidTransitionError
from enrollment.domain.programs import Program, ProgramStatus
from mentorship_contracts.enrollment import (
    Eligibility,
    ProgramArchived,
    ProgramClosed,
    ProgramCreated,
    ProgramOpened,
    ProgramUpdated,
)


def fold(events) -> Program:
    state = reduce(programs.evolve, events, None)
    assert state is not None
    return state


def draft() -> Program:
    return fold(programs.create_program("p-1", settings()))


def test_a_program_starts_as_a_draft():
    events = programs.create_program("p-1", settings())
    assert events == [ProgramCreated(program_id="p-1", settings=settings())]
    assert fold(events).status is ProgramStatus.DRAFT


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"starts_on": date(2025, 2, 1), "ends_on": date(2025, 1, 31)}, "ends_on"),
        (
            {"eligibility": Eligibility(min_job_level=5, max_job_level=4)},
            "eligibility.max_job_level",
        ),
        (
            {"mentor_eligibility": Eligibility(min_job_level=3, max_job_level=1)},
            "mentor_eligibility.max_job_level",
        ),
    ],
)
def test_inconsistent_settings_are_refused_naming_the_field(overrides, field):
    with pytest.raises(InvalidInputError) as raised:
        programs.create_program("p-1", settings(**overrides))
    assert raised.value.field == field


def test_an_update_records_the_new_settings_only_when_they_change():
    state = draft()
    assert programs.update_program(state, settings()) == []
    renamed = settings(name="Leadership 2026")
    assert programs.update_program(state, renamed) == [
        ProgramUpdated(program_id="p-1", settings=renamed)
    ]


def test_open_close_and_reopen():
    state = draft()
    opened = programs.open_program(state, TODAY)
    assert opened == [ProgramOpened(program_id="p-1", opened_on=TODAY)]
    state = programs.evolve(state, opened[0])
    assert programs.open_program(state, TODAY) == []
    closed = programs.close_program(state, TODAY)
    assert closed == [ProgramClosed(program_id="p-1", closed_on=TODAY)]
    state = programs.evolve(state, closed[0])
    assert programs.close_program(state, TODAY) == []
    assert (
        programs.evolve(state, programs.open_program(state, TODAY)[0]).status is ProgramStatus.OPEN
    )


def test_a_draft_cannot_be_closed():
    with pytest.raises(InvalidTransitionError):
        programs.close_program(draft(), TODAY)


def test_an_archived_program_no_longer_changes():
    state = programs.evolve(draft(), ProgramArchived(program_id="p-1"))
    assert programs.archive_program(state) == []
    with pytest.raises(InvalidTransitionError):
        programs.open_program(state, TODAY)
    with pytest.raises(InvalidTransitionError):
        programs.update_program(state, settings(name="again"))
