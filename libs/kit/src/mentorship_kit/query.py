"""Strict query strings: a parameter the operation does not take is a 422.

A misspelt filter (``?staus=active``) would otherwise be ignored silently and the
answer would hold more than the client asked for. Opt-in per router
(``APIRouter(dependencies=[Depends(reject_unknown_query)])``): protocols with open-ended
parameters of their own, such as SCIM, keep their rules.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from mentorship_kit.problems import VALIDATION, ProblemError

_KNOWN: dict[int, frozenset[str]] = {}


async def reject_unknown_query(request: Request) -> None:
    """Async on purpose: FastAPI runs a plain ``def`` dependency in its thread pool."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _KNOWN.get(id(route))
    if known is None:
        known = _KNOWN.setdefault(id(route), frozenset(_query_names(route.dependant)))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ProblemError.of(
            VALIDATION,
            f"unknown query parameter {unknown[0]!r}",
            extensions={
                "errors": [
                    {
                        "field": f"query/{name}",
                        "in": "query",
                        "message": "not a parameter of this operation",
                    }
                    for name in unknown
                ]
            },
        )


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names
