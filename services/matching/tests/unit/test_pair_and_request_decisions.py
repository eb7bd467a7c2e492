"""The pair and mentor-request aggregates: pure decisions, no database."""

from datetime import UTC, date, datetime, timedelta

import pytest

from matching.domain import blocklist, pairs, requests
from matching.domain.actors import Actor
from matching.domain.errors import (
    ForbiddenError,
    InvalidFieldError,
    NotFoundError,
    TransitionError,
    UnavailableError,
)
from mentorship_contracts import EventContract
from mentorship_contracts.matching import (
    MentorRequestCancelled,
    MentorRequestDeclined,
    MentorRequested,
    MentorRequestExhausted,
    MentorRequestExpired,
    PairAccepted,
    PairDeclined,
    PairEnded,
    PairFormed,
)

TODAY = date(2025, 3, 3)
NOW = datetime(2025, 3, 3, 9, tzinfo=UTC)
TTL = timedelta(hours=48)
MENTOR = Actor(subject="m", employee_id="m")
MENTEE = Actor(subject="e", employee_id="e")
ADMIN = Actor(subject="admin", is_admin=True)
MANAGER = Actor(subject="pm", is_program_manager=True)
OUTSIDER = Actor(subject="x", employee_id="x")


def fold(events, evolve, state=None):
    for event in events:
        state = evolve(state, event)
    return state


def proposed(auto_accept: bool = False) -> pairs.Pair:
    proposal = pairs.Proposal(
        pair_id="p1",
        program_id="prog",
        mentor_id="m",
        mentee_id="e",
        format="one_to_one",
        score=1.0,
        explanation=(),
        algorithm_version="v",
    )
    return fold(pairs.propose(proposal, TODAY, auto_accept=auto_accept), pairs.evolve)


def types(events: list[EventContract]) -> list[type]:
    return [type(e) for e in events]


def test_a_pair_forms_when_the_second_side_accepts():
    first = pairs.accept(proposed(), "p1", MENTOR, TODAY)
    state = fold(first, pairs.evolve, proposed())
    second = pairs.accept(state, "p1", MENTEE, TODAY)

    assert types(first) == [PairAccepted]
    assert types(second) == [PairAccepted, PairFormed]
    assert fold(second, pairs.evolve, state).status == "active"
    assert pairs.accept(fold(second, pairs.evolve, state), "p1", MENTOR, TODAY) == []
    assert pairs.accept(state, "p1", MENTOR, TODAY) == []  # the same side again


def test_an_admin_accepts_for_both_a_manager_may_not():
    events = pairs.accept(proposed(), "p1", ADMIN, TODAY)

    assert types(events) == [PairAccepted, PairFormed]
    assert events[0].side == "admin"
    with pytest.raises(ForbiddenError):
        pairs.accept(proposed(), "p1", MANAGER, TODAY)
    with pytest.raises(ForbiddenError):
        pairs.decline(proposed(), "p1", OUTSIDER, TODAY)
    with pytest.raises(NotFoundError):
        pairs.accept(None, "p1", MENTOR, TODAY)


def test_transitions_that_contradict_the_state_are_refused():
    active = proposed(auto_accept=True)
    declined = fold(pairs.decline(proposed(), "p1", MENTEE, TODAY), pairs.evolve, proposed())

    with pytest.raises(TransitionError):
        pairs.decline(active, "p1", MENTEE, TODAY)
    with pytest.raises(TransitionError):
        pairs.accept(declined, "p1", MENTOR, TODAY)
    with pytest.raises(TransitionError):
        pairs.end(proposed(), "p1", MENTOR, "completed", TODAY)
    assert pairs.decline(declined, "p1", MENTOR, TODAY) == []


def test_a_manager_may_end_an_active_pair_once():
    events = pairs.end(proposed(auto_accept=True), "p1", MANAGER, "completed", TODAY)
    ended = fold(events, pairs.evolve, proposed(auto_accept=True))

    assert types(events) == [PairEnded]
    assert events[0].ended_by == "pm"
    assert pairs.end(ended, "p1", ADMIN, "other", TODAY) == []


def test_a_member_leaving_ends_an_active_pair_and_declines_a_proposal():
    ended = pairs.member_left(proposed(auto_accept=True), "e", "departure", TODAY)
    declined = pairs.member_left(proposed(), "m", "withdrawal", TODAY)

    assert types(ended) == [PairEnded]
    assert (ended[0].reason, ended[0].ended_by) == ("departure", None)
    assert types(declined) == [PairDeclined]
    assert (declined[0].side, declined[0].declined_by, declined[0].reason) == (
        "mentor",
        "m",
        "withdrawal",
    )
    assert pairs.member_left(proposed(), "someone-else", "departure", TODAY) == []
    assert pairs.member_left(None, "e", "departure", TODAY) == []


def test_a_failed_fit_ends_only_an_active_pair():
    events = pairs.failed_fit(proposed(auto_accept=True), "e", TODAY)

    assert [(type(e), e.reason, e.ended_by) for e in events] == [(PairEnded, "failed_fit", "e")]
    assert pairs.failed_fit(proposed(), "e", TODAY) == []


def submitted(*available: str, choices=("m1", "m2", "m3")) -> list[EventContract]:
    return requests.submit(
        request_id="r1",
        program_id="prog",
        mentee_id="e",
        mentor_ids=list(choices),
        available=frozenset(available),
        now=NOW,
        ttl=TTL,
    )


def test_the_first_available_choice_is_asked():
    (event,) = submitted("m2", "m3")

    assert isinstance(event, MentorRequested)
    assert (event.mentor_id, event.choice_rank, event.expires_at) == ("m2", 2, NOW + TTL)
    assert event.choices == ["m1", "m2", "m3"]
    with pytest.raises(UnavailableError):
        submitted()


@pytest.mark.parametrize(
    ("choices", "field"),
    [((), "mentor_ids"), (("m1", "m1"), "mentor_ids[1]"), (("e",), "mentor_ids[0]")],
)
def test_choices_are_checked(choices, field):
    with pytest.raises(InvalidFieldError) as refused:
        requests.check_choices("e", list(choices))
    assert refused.value.field == field


def test_a_decline_or_an_expiry_cascades_until_exhausted():
    state = fold(submitted("m1", "m2", "m3"), requests.evolve)
    m1 = Actor(subject="m1", employee_id="m1")

    declined = requests.decline(state, "r1", m1, available=frozenset({"m3"}), now=NOW, ttl=TTL)
    state = fold(declined, requests.evolve, state)
    early = requests.expire(state, available=frozenset({"m3"}), now=NOW, ttl=TTL)
    expired = requests.expire(state, available=frozenset(), now=NOW + TTL, ttl=TTL)

    assert types(declined) == [MentorRequestDeclined, MentorRequested]
    assert (state.mentor_id, state.choice_rank) == ("m3", 3)  # m2 was unavailable
    assert early == []
    assert types(expired) == [MentorRequestExpired, MentorRequestExhausted]
    assert fold(expired, requests.evolve, state).status == "exhausted"


def test_only_the_mentor_asked_answers_and_never_too_late():
    state = fold(submitted("m1"), requests.evolve)
    m1 = Actor(subject="m1", employee_id="m1")

    with pytest.raises(ForbiddenError):
        requests.accept(state, "r1", MENTEE, now=NOW, refusal=None)
    with pytest.raises(TransitionError):
        requests.accept(state, "r1", m1, now=NOW + TTL, refusal=None)
    with pytest.raises(UnavailableError):
        requests.accept(state, "r1", m1, now=NOW, refusal="has no free slot")
    accepted = requests.accept(state, "r1", m1, now=NOW, refusal=None)
    assert accepted[0].pair_id == requests.pair_id_for("r1")
    with pytest.raises(TransitionError):
        requests.accept(fold(accepted, requests.evolve, state), "r1", m1, now=NOW, refusal=None)


def test_leaving_cancels_for_the_mentee_and_moves_on_for_the_mentor():
    state = fold(submitted("m1", "m2"), requests.evolve)

    mentee_left = requests.member_left(
        state, "e", "departure", available=frozenset({"m2"}), now=NOW, ttl=TTL
    )
    mentor_left = requests.member_left(
        state, "m1", "withdrawal", available=frozenset({"m1", "m2"}), now=NOW, ttl=TTL
    )

    assert types(mentee_left) == [MentorRequestCancelled]
    assert types(mentor_left) == [MentorRequestDeclined, MentorRequested]
    assert mentor_left[0].reason == "withdrawal"
    assert mentor_left[1].mentor_id == "m2"


def test_blocking_is_symmetric_and_idempotent():
    events = blocklist.block(None, "prog", "b", "a", "conflict")
    state = fold(events, blocklist.evolve)

    assert events[0].employee_ids == ["a", "b"]
    assert blocklist.block(state, "prog", "a", "b", None) == []
    assert blocklist.block_id_for("prog", "a", "b") == blocklist.block_id_for("prog", "b", "a")
    assert (
        fold(blocklist.unblock(state, "prog", events[0].block_id), blocklist.evolve, state).blocked
        == {}
    )
    with pytest.raises(NotFoundError):
        blocklist.unblock(state, "prog", "nope")
    with pytest.raises(InvalidFieldError):
        blocklist.block(None, "prog", "a", "a", None)
