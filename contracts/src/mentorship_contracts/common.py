"""Value types shared by several contracts."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Role = Literal["mentor", "mentee"]
Format = Literal["one_to_one", "group", "peer", "reverse", "self_directed"]
EmployeeId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Profile(Frozen):
    """What a participant offers and seeks; the input of matching."""

    skills_offered: list[Tag] = Field(default_factory=list, max_length=100)
    skills_sought: list[Tag] = Field(default_factory=list, max_length=100)
    goals: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=20
    )
    interests: list[Tag] = Field(default_factory=list, max_length=100)
    languages: list[Tag] = Field(default_factory=list, max_length=20)
    timezone: str | None = Field(default=None, max_length=64, description="IANA time zone name.")
    capacity: int | None = Field(
        default=None, ge=1, le=50, description="Mentors only: how many mentees at once."
    )
