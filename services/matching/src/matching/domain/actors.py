"""Who asks: the employee a participant token names, and the staff roles they hold."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """`employee_id` is set for participant tokens only: a program manager or an
    integration whose subject happens to equal an employee id is not that employee."""

    subject: str
    employee_id: str | None = None
    is_admin: bool = False
    is_program_manager: bool = False

    @property
    def is_staff(self) -> bool:
        """Admins and program managers run programs; they see every pair and run."""
        return self.is_admin or self.is_program_manager
