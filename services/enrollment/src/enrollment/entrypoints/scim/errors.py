"""Every SCIM error in the SCIM error schema (RFC 7644 section 3.12), as application/scim+json.

SCIM clients (identity providers) parse ``urn:ietf:params:scim:api:messages:2.0:Error``,
not RFC 9457 problems, so nothing under /scim/v2 answers in the REST API's format:
authentication, authorization, unknown URLs and methods, malformed JSON, invalid
resources and directory conflicts all become SCIM errors here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from scim2_models import Error, SCIMException

from enrollment.domain.errors import (
    ConflictError,
    DomainError,
    EmployeeExistsError,
    NotFoundError,
    UserNameTakenError,
)

SCIM_MEDIA_TYPE: Final = "application/scim+json"


class ScimResponse(JSONResponse):
    media_type = SCIM_MEDIA_TYPE


class ScimError(Exception):
    """Raised by SCIM endpoints and dependencies; answered with a SCIM Error."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        scim_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.error = Error(status=status, scim_type=scim_type, detail=detail)
        self.headers = dict(headers or {})
        super().__init__(detail)

    @classmethod
    def of(cls, exc: SCIMException) -> ScimError:
        error = exc.to_error()
        return cls(error.status or 400, error.detail or str(exc), scim_type=error.scim_type)

    @classmethod
    def invalid(cls, exc: ValidationError) -> ScimError:
        """A payload or query that does not validate: 400, the first problem named."""
        errors = Error.from_validation_errors(exc.errors())
        error = errors[0] if errors else Error(status=400, detail="the request is invalid")
        return cls(
            400,
            error.detail or "the request is invalid",
            scim_type=error.scim_type or "invalidValue",
        )

    @classmethod
    def from_domain(cls, exc: DomainError) -> ScimError:
        if isinstance(exc, NotFoundError):
            return cls(404, str(exc))
        if isinstance(exc, UserNameTakenError | EmployeeExistsError):
            return cls(409, str(exc), scim_type="uniqueness")
        if isinstance(exc, ConflictError):
            return cls(409, str(exc))
        return cls(400, str(exc), scim_type="invalidValue")

    def response(self) -> ScimResponse:
        return scim_error_response(self.error, self.headers)


def scim_error_response(error: Error, headers: Mapping[str, str] | None = None) -> ScimResponse:
    body: dict[str, Any] = error.model_dump()
    return ScimResponse(body, status_code=error.status or 500, headers=dict(headers or {}))


async def _handle(_: Request, exc: Exception) -> ScimResponse:
    assert isinstance(exc, ScimError)  # noqa: S101 - registered for this type only
    return exc.response()


def install_scim_errors(app: FastAPI) -> None:
    app.add_exception_handler(ScimError, _handle)
