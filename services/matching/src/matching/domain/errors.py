"""Why the matching domain refuses a command. Plain exceptions: no HTTP in here.

The entrypoints map each kind to one problem type (see entrypoints/api/errors.py); the
engine's own input errors (`MatchingInputError`, naming the field) are mapped there too.
"""

from __future__ import annotations


class MatchingError(Exception):
    """Base of every refusal of the matching domain."""


class NotFoundError(MatchingError):
    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(f"no {kind} {identifier!r}")
        self.kind = kind
        self.identifier = identifier


class ForbiddenError(MatchingError):
    """The caller holds an accepted role but is not a party to this resource."""

    def __init__(self, kind: str, identifier: str, why: str) -> None:
        super().__init__(f"{why} ({kind} {identifier!r})")
        self.kind = kind
        self.identifier = identifier


class InvalidFieldError(MatchingError):
    """A value the schema allows but the rules do not; `field` names it (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ProgramNotOpenError(MatchingError):
    def __init__(self, program_id: str, status: str) -> None:
        super().__init__(f"program {program_id!r} is {status}; matching needs an open program")
        self.program_id = program_id
        self.status = status


class FormatNotOfferedError(MatchingError):
    def __init__(self, program_id: str, fmt: str, offered: tuple[str, ...]) -> None:
        super().__init__(
            f"program {program_id!r} does not offer the {fmt} format "
            f"(it offers {', '.join(offered) or 'none'})"
        )
        self.program_id = program_id
        self.format = fmt
        self.offered = offered


class RunAlreadyPublishedError(MatchingError):
    def __init__(self, run_id: str) -> None:
        super().__init__(f"match run {run_id!r} is already published")
        self.run_id = run_id


class StaleRunError(MatchingError):
    """The pool changed since the run was computed: its proposals may no longer hold."""

    def __init__(self, run_id: str) -> None:
        super().__init__(
            f"the candidate pool changed since match run {run_id!r} was computed "
            "(enrollments, profiles, the directory, pairs or blocked pairs); run it again"
        )
        self.run_id = run_id


class TransitionError(MatchingError):
    """The resource is in a state where this action makes no sense."""

    def __init__(self, kind: str, identifier: str, status: str, action: str) -> None:
        super().__init__(f"cannot {action} {kind} {identifier!r}: it is {status}")
        self.kind = kind
        self.identifier = identifier
        self.status = status
        self.action = action


class UnavailableError(MatchingError):
    """A person the command needs is not (or no longer) available in the pool."""

    def __init__(self, field: str, employee_id: str, why: str) -> None:
        super().__init__(f"{employee_id!r} ({field}) {why}")
        self.field = field
        self.employee_id = employee_id
        self.why = why
