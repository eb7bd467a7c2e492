"""What the enrollment domain refuses, in its own words; the API maps these to problems."""

from __future__ import annotations


class DomainError(Exception):
    """A command the domain refuses. ``field`` names the input at fault, when there is one."""

    field: str | None = None

    def extensions(self) -> dict[str, object]:
        """Facts a client can act on (e.g. the id of the enrollment that already exists)."""
        return {}


class NotFoundError(DomainError):
    """The command names something that does not exist."""


class ProgramNotFoundError(NotFoundError):
    def __init__(self, program_id: str) -> None:
        self.program_id = program_id
        super().__init__(f"program {program_id!r} does not exist")


class EmployeeNotFoundError(NotFoundError):
    field = "employee_id"

    def __init__(self, employee_id: str) -> None:
        self.employee_id = employee_id
        super().__init__(f"employee {employee_id!r} is not in the directory")


class EnrollmentNotFoundError(NotFoundError):
    def __init__(self, enrollment_id: str) -> None:
        self.enrollment_id = enrollment_id
        super().__init__(f"enrollment {enrollment_id!r} does not exist")


class ConflictError(DomainError):
    """The command does not fit the current state of what it acts on."""


class InvalidTransitionError(ConflictError):
    """E.g. approving a rejected application or reopening an archived program."""

    def __init__(self, what: str, status: str, action: str) -> None:
        self.status = status
        super().__init__(f"{what} is {status}; it cannot be {action}")

    def extensions(self) -> dict[str, object]:
        return {"current_status": self.status}


class ProgramNotOpenError(ConflictError):
    def __init__(self, program_id: str, status: str) -> None:
        self.status = status
        super().__init__(f"program {program_id!r} is {status}, not open for applications")

    def extensions(self) -> dict[str, object]:
        return {"program_status": self.status}


class ProgramFullError(ConflictError):
    def __init__(self, program_id: str, max_mentees: int) -> None:
        super().__init__(f"program {program_id!r} already has its {max_mentees} mentees")


class AlreadyAppliedError(ConflictError):
    """A live application of this employee, in this role, exists in the program."""

    field = "employee_id"

    def __init__(self, enrollment_id: str, status: str) -> None:
        self.enrollment_id = enrollment_id
        self.status = status
        super().__init__(
            f"this employee already applied in this role: enrollment {enrollment_id} ({status})"
        )

    def extensions(self) -> dict[str, object]:
        return {"enrollment_id": self.enrollment_id, "enrollment_status": self.status}


class AlreadyDepartedError(ConflictError):
    def __init__(self, employee_id: str, left_on: str) -> None:
        super().__init__(f"employee {employee_id!r} already departed on {left_on}")


class EmployeeErasedError(ConflictError):
    """The employee's personal data was erased; their record cannot be written again.

    The HRIS must give a returning person a new employee id.
    """

    def __init__(self, employee_id: str, erased_on: str) -> None:
        self.employee_id = employee_id
        self.erased_on = erased_on
        super().__init__(
            f"the personal data of employee {employee_id!r} was erased on {erased_on}; "
            "their record cannot be written again (use a new employee id)"
        )

    def extensions(self) -> dict[str, object]:
        return {"employee_id": self.employee_id, "erased_on": self.erased_on}


class InvalidInputError(DomainError):
    """Input that is well-formed on its own but wrong in context (422, naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
        self.message = message


class EmployeeExistsError(ConflictError):
    """Creating an employee (over SCIM) whose id the directory already holds."""

    field = "employee_id"

    def __init__(self, employee_id: str) -> None:
        self.employee_id = employee_id
        super().__init__(f"employee {employee_id!r} already exists")


class UserNameTakenError(ConflictError):
    """A SCIM userName (case-insensitive) already names another employee."""

    field = "userName"

    def __init__(self, user_name: str, holder: str) -> None:
        self.holder = holder
        super().__init__(f"userName {user_name!r} is already used by employee {holder!r}")


class NotYoursError(DomainError):
    """A participant acting on another employee's enrollment (they act for themselves)."""

    def __init__(self, enrollment_id: str) -> None:
        super().__init__(f"enrollment {enrollment_id} belongs to another employee")
