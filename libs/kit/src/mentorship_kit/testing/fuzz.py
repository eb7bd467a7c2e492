"""Schemathesis, with every check, against a service: the setup every fuzz test shares.

A fuzz test builds the OpenAPI document its app serves (building an app connects to
nothing), serves the app with :class:`~mentorship_kit.testing.LiveServer`, and runs two
kinds of test against it:

- one test per operation — ``@schema.parametrize()``, ``@examples(n)`` and
  :func:`check`: the examples, coverage and fuzzing phases;
- :func:`run_stateful` — sequences of calls where a later call uses what an earlier one
  answered (an id), through the links Schemathesis infers from the document and those
  the document states. Only there do ``use_after_free`` and
  ``ensure_resource_availability`` have earlier calls to look at.

Every check Schemathesis has runs, in both. One is inert here: ``object_level_authorization``
compares what several identities (a Web Fuzzing Commons auth document listing peers)
may read, and these runs call as one admin; tests/security/test_authorization_matrix.py
checks object-level access for every operation instead.

Import it directly (``from mentorship_kit.testing.fuzz import ...``): Schemathesis and
Hypothesis are test dependencies, not the kit's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import CHECKS, load_all_checks

load_all_checks()
ALL_CHECKS: Final = CHECKS.get_all()
# The kit's own endpoints, which every service serves: fuzzed once, by the kit's run
# (libs/kit/tests/integration/test_kit_schemathesis.py), not again by each service.
KIT_PATHS: Final = "^/v1/(admin/dead-letters|events)"
# How often a parameter with known values takes one of them rather than a generated one.
KNOWN_SHARE: Final = 0.8
# How long one generated call may take before it counts as failed.
REQUEST_TIMEOUT_SECONDS: Final = 30


def openapi_schema(
    document: dict[str, Any],
    *,
    accepted: Sequence[str] = (),
    known: Mapping[str, Sequence[str]] | None = None,
    exclude: str | None = KIT_PATHS,
) -> Any:
    """The document as a Schemathesis schema, without the operations ``exclude`` matches.

    ``accepted``: statuses besides 2xx that a schema-valid request may get by design and
    that the document declares (a made-up cursor, a rule JSON Schema cannot express);
    ``positive_data_acceptance`` takes them as acceptance. Say at the call site why.

    ``known``: values to draw most of the time for a parameter (generated ones keep the
    rest), by location and name: ``path.pair_id`` (ids the test made beforehand, such as
    pairs, which come as another service's events: no operation of the document creates
    them), ``body.url`` or ``body.types[*]`` (values the service accepts where JSON
    Schema cannot say which ones it does). Calls then reach real resources, and linked
    sequences start from them.
    """
    known = known or {}
    config = schemathesis.Config.from_dict(
        {
            # schemathesis gives up on a response after 10 s by default; a service on a
            # loaded 2-core CI machine can be slower than that without being at fault.
            "request-timeout": REQUEST_TIMEOUT_SECONDS,
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", *accepted]}},
            "dictionaries": {_name(key): {"values": list(values)} for key, values in known.items()},
            "parameters": {
                key: {"dictionary": _name(key), "probability": KNOWN_SHARE} for key in known
            },
        }
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    return schema.exclude(path_regex=exclude) if exclude else schema


def _name(key: str) -> str:
    """A dictionary name for a parameter key (``body.types[*]`` -> ``body_types___``)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", key)


def examples(count: int) -> settings:
    """Hypothesis settings for ``count`` generated cases per operation (or scenarios).

    No deadline (a call may wait on the database); no health checks (a slow first call
    or a filtered strategy is not a fault of the test).
    """
    return settings(max_examples=count, deadline=None, suppress_health_check=list(HealthCheck))


def _send_every_query_parameter(case: Any) -> None:
    """The HTTP client drops a query parameter whose value is None or an empty list, so a
    case that adds an unknown parameter that way would reach the server without it (and
    be reported as accepted negative data): send such a parameter with an empty value."""
    if case.query:
        case.query = {k: "" if v is None or v == [] else v for k, v in case.query.items()}


def check(case: Any, base_url: str, headers: Mapping[str, str]) -> None:
    """Send one generated case and run every check on the answer."""
    _send_every_query_parameter(case)
    case.call_and_validate(base_url=base_url, headers=dict(headers), checks=ALL_CHECKS)


def run_stateful(
    schema: Any, base_url: str, headers: Mapping[str, str], *, scenarios: int, steps: int = 6
) -> None:
    """Run ``scenarios`` sequences of up to ``steps`` linked calls, checking every answer
    with every check (with the earlier calls of the sequence at hand)."""
    sent = dict(headers)
    machine: type[Any] = schema.as_state_machine()

    class Scenario(machine):  # type: ignore[misc]  # a base class made at run time
        def before_call(self, case: Any) -> None:
            _send_every_query_parameter(case)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:  # noqa: ARG002 - the same for every case
            return {"base_url": base_url, "headers": sent}

    # No shrinking: the server keeps what earlier sequences made, so a sequence replayed
    # to shrink it meets another state, draws other data and Hypothesis reports its own
    # flakiness instead of the failure. The first failing sequence is reported as found.
    tuned = settings(
        examples(scenarios), stateful_step_count=steps, phases=[Phase.explicit, Phase.generate]
    )
    Scenario.run(settings=tuned)
