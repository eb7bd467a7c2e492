from datetime import date

import pytest

from mentorship_contracts.enrollment import ProgramCreated, ProgramSettings, ProgramUpdated
from mentorship_contracts.matching import PairDeclined, PairEnded, PairFormed, PairProposed
from sessions.domain.errors import NotAPairMemberError, PairNotActiveError
from sessions.domain.pairs import Actor, PairContext, authorize, project_pair, project_program

from .conftest import make_calendar, make_pair

MEMBERS = {"pair_id": "p1", "program_id": "prog", "mentor_id": "m1", "mentee_id": "e1"}


def formed() -> PairFormed:
    return PairFormed(**MEMBERS, format="one_to_one", formed_on=date(2025, 3, 1))


def ended() -> PairEnded:
    return PairEnded(**MEMBERS, reason="completed", ended_by="m1", ended_on=date(2025, 9, 1))


def proposed() -> PairProposed:
    return PairProposed(
        **MEMBERS,
        run_id="r1",
        format="one_to_one",
        score=0.5,
        explanation=[],
        algorithm_version="1",
        proposed_on=date(2025, 2, 1),
    )


def test_pair_formed_registers_an_active_pair_with_members_and_program():
    pair = project_pair(None, formed())
    assert (pair.status, pair.mentor_id, pair.mentee_id, pair.program_id) == (
        "active",
        "m1",
        "e1",
        "prog",
    )
    assert pair.formed_on == date(2025, 3, 1)


def test_pair_ended_makes_the_pair_ended_and_keeps_when_it_formed():
    pair = project_pair(project_pair(None, formed()), ended())
    assert pair.status == "ended"
    assert pair.formed_on == date(2025, 3, 1)
    assert pair.ended_on == date(2025, 9, 1)
    assert pair.end_reason == "completed"


def test_an_ended_pair_never_becomes_active_again():
    pair = project_pair(project_pair(None, ended()), formed())
    assert pair.status == "ended"


def test_a_proposed_pair_becomes_active_but_a_declined_one_stays_declined():
    assert project_pair(project_pair(None, proposed()), formed()).status == "active"
    declined = PairDeclined(
        **MEMBERS, side="mentee", declined_by="e1", declined_on=date(2025, 2, 2)
    )
    assert project_pair(project_pair(None, declined), formed()).status == "declined"


def test_the_latest_program_settings_give_the_calendar():
    settings = ProgramSettings(
        name="n",
        objective="o",
        formats=["one_to_one"],
        tracks=[],
        starts_on=date(2025, 1, 1),
        ends_on=None,
        cadence_days=14,
        mentor_capacity=2,
        approval="auto",
    )
    created = project_program(ProgramCreated(program_id="prog", settings=settings))
    assert (created.starts_on, created.ends_on, created.cadence_days) == (
        date(2025, 1, 1),
        None,
        14,
    )
    later = settings.model_copy(update={"ends_on": date(2025, 12, 31), "cadence_days": 7})
    updated = project_program(ProgramUpdated(program_id="prog", settings=later))
    assert (updated.ends_on, updated.cadence_days) == (date(2025, 12, 31), 7)


def test_members_get_their_role_admins_get_in_where_allowed_and_others_never():
    pair = make_pair()
    assert authorize(pair, Actor("mentor-1"), admin_allowed=False) == "mentor"
    assert authorize(pair, Actor("mentee-1"), admin_allowed=False) == "mentee"
    assert authorize(pair, Actor("boss", is_admin=True), admin_allowed=True) is None
    with pytest.raises(NotAPairMemberError):
        authorize(pair, Actor("boss", is_admin=True), admin_allowed=False)
    with pytest.raises(NotAPairMemberError):
        authorize(pair, Actor("stranger"), admin_allowed=True)


@pytest.mark.parametrize("status", ["proposed", "declined", "ended"])
def test_only_an_active_pair_passes_the_activity_check(status):
    with pytest.raises(PairNotActiveError) as refused:
        PairContext(make_pair(status), make_calendar()).require_active()
    assert refused.value.status == status
