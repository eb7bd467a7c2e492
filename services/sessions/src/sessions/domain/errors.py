"""What the sessions domain refuses, and why. No HTTP here: the API maps these."""

from __future__ import annotations


class SessionsError(Exception):
    """Base of every refusal of the sessions domain."""


class NotFoundError(SessionsError):
    """The named pair, session, goal or milestone does not exist (here)."""

    def __init__(self, kind: str, identifier: str) -> None:
        self.kind = kind
        self.identifier = identifier
        super().__init__(f"{kind} {identifier!r} is not known")


class NotAPairMemberError(SessionsError):
    """The caller is neither mentor nor mentee of the pair (nor, where allowed, an admin)."""

    def __init__(self, pair_id: str) -> None:
        self.pair_id = pair_id
        super().__init__(f"only the members of pair {pair_id!r} may do this")


class PairNotActiveError(SessionsError):
    """The pair is not active (proposed, declined or ended): it cannot be written to."""

    def __init__(self, pair_id: str, status: str) -> None:
        self.pair_id = pair_id
        self.status = status
        super().__init__(f"pair {pair_id!r} is {status}; only active pairs can do this")


class PairNotEndedError(SessionsError):
    """An exit survey for a pair that has not ended."""

    def __init__(self, pair_id: str, status: str) -> None:
        self.pair_id = pair_id
        self.status = status
        super().__init__(f"pair {pair_id!r} is {status}; exit surveys are for ended pairs")


class InvalidFieldError(SessionsError):
    """A value is well-formed but breaks a rule of the domain (a date outside the program)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class TransitionError(SessionsError):
    """The aggregate's current state does not allow this change."""

    def __init__(self, kind: str, identifier: str, status: str, action: str) -> None:
        self.kind = kind
        self.identifier = identifier
        self.status = status
        self.action = action
        super().__init__(f"{kind} {identifier!r} is {status}: it cannot be {action}")


class AlreadyAnsweredError(SessionsError):
    """This member already gave this answer (one rating per session, one exit survey, ...)."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"already answered: {what}")


class NotDueError(SessionsError):
    """A check-in before the program's cadence makes the next one due."""

    def __init__(self, due_on: str) -> None:
        self.due_on = due_on
        super().__init__(f"the next check-in is due on {due_on}")


class NoHeldSessionError(SessionsError):
    """A fit check before the pair has held its first session."""

    def __init__(self, pair_id: str) -> None:
        self.pair_id = pair_id
        super().__init__(f"pair {pair_id!r} has held no session yet; the fit check follows it")
