"""Make every service's OpenAPI document say what the service really answers.

FastAPI documents request-validation errors as ``application/json`` with its own
schema and knows nothing of the errors a dependency raises. The services answer every
error as RFC 9457 ``application/problem+json`` (see problems.py), and any operation may
fail for reasons its route never names: a missing or bad token (401/403), a malformed
cursor (400), the database being away (503). This rewrites the document once, so
clients and API fuzzers (schemathesis) see the truth for every route of every service.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Final

from fastapi import FastAPI

from mentorship_kit.problems import PROBLEM_MEDIA_TYPE, Problem

_PROBLEM_REF: Final = "#/components/schemas/Problem"
_CURSOR_PARAMETERS: Final = frozenset({"cursor", "after"})
_METHODS: Final = frozenset({"get", "put", "post", "patch", "delete", "head", "options"})


def _problem(status: int) -> dict[str, Any]:
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
    }


def _rewrite_operation(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for code, response in list(responses.items()):
        if not code.isdigit() or int(code) < 400:  # noqa: PLR2004 - the error range
            continue
        description = response.get("description") or HTTPStatus(int(code)).phrase
        responses[code] = {**_problem(int(code)), "description": description}
    wanted = {500, 503}
    if operation.get("security"):
        wanted |= {401, 403}
    parameters = operation.get("parameters", [])
    if {p.get("name") for p in parameters} & _CURSOR_PARAMETERS:
        wanted.add(400)
    if any(p.get("in") == "path" for p in parameters):
        wanted.add(404)  # the thing the path names may not exist
    if operation.get("parameters") or operation.get("requestBody"):
        wanted.add(422)
    for status in sorted(wanted):
        responses.setdefault(str(status), _problem(status))


def problem_openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """An ``app.openapi`` replacement built on FastAPI's own generator."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for path_item in schema.get("paths", {}).values():
            for method, operation in path_item.items():
                if method in _METHODS:
                    _rewrite_operation(operation)
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = schema
        return schema

    return openapi
