"""Settings refuse what would be unsafe or wrong; CSV cells cannot become formulas."""

from datetime import date

import pytest
from pydantic import ValidationError

from analytics.config import AnalyticsSettings
from analytics.entrypoints.api.csv_export import _cell, flatten
from mentorship_kit.consumer import DEFAULT_BACKOFF


def settings(**values):
    return AnalyticsSettings(dev_mode=True, **values)


def test_the_suppression_threshold_is_never_below_three(monkeypatch):
    monkeypatch.setenv("ANALYTICS_SUPPRESSION_THRESHOLD", "2")
    with pytest.raises(ValidationError, match="analytics_suppression_threshold"):
        AnalyticsSettings(dev_mode=True)
    monkeypatch.setenv("ANALYTICS_SUPPRESSION_THRESHOLD", "3")
    assert AnalyticsSettings(dev_mode=True).analytics_suppression_threshold == 3


def test_source_urls_are_read_as_source_equals_url(monkeypatch):
    monkeypatch.setenv(
        "ANALYTICS_SOURCE_URLS", "enrollment=http://enrollment:8000/, sessions=https://s.example"
    )
    assert AnalyticsSettings(dev_mode=True).analytics_source_urls == {
        "enrollment": "http://enrollment:8000",
        "sessions": "https://s.example",
    }


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("billing=http://b:8000", "unknown source"),
        ("sessions=ftp://s", "not an http"),
        ("sessions", "SOURCE=URL"),
    ],
)
def test_bad_source_urls_fail_at_start(monkeypatch, value, error):
    monkeypatch.setenv("ANALYTICS_SOURCE_URLS", value)
    with pytest.raises(ValidationError, match=error):
        AnalyticsSettings(dev_mode=True)


def test_the_retry_policy_of_poison_messages_is_read_from_the_environment(monkeypatch):
    assert settings().analytics_consumer_backoff_seconds == DEFAULT_BACKOFF
    monkeypatch.setenv("ANALYTICS_CONSUMER_MAX_DELIVER", "3")
    monkeypatch.setenv("ANALYTICS_CONSUMER_BACKOFF_SECONDS", "0.1, 0.5")
    configured = AnalyticsSettings(dev_mode=True)
    assert configured.analytics_consumer_max_deliver == 3
    assert configured.analytics_consumer_backoff_seconds == (0.1, 0.5)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ANALYTICS_CONSUMER_BACKOFF_SECONDS", ""),
        ("ANALYTICS_CONSUMER_BACKOFF_SECONDS", "1, -2"),
        ("ANALYTICS_CONSUMER_BACKOFF_SECONDS", "soon"),
        ("ANALYTICS_CONSUMER_MAX_DELIVER", "0"),
    ],
)
def test_a_bad_retry_policy_fails_at_start(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=name.lower()):
        AnalyticsSettings(dev_mode=True)


def test_csv_cells():
    assert _cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _cell("-2") == "'-2"
    assert _cell(-2) == "-2"
    assert _cell(None) == ""
    flag = True
    assert _cell(flag) == "true"
    assert _cell(date(2025, 1, 2)) == "2025-01-02"
    assert _cell(["a", "b"]) == "a;b"
    assert flatten({"a": {"b": 1, "c": {"d": None}}, "e": 2}) == {"a.b": 1, "a.c.d": None, "e": 2}


IGNORED = {
    # Nothing analytics computes depends on these (yet); a new event type of a source
    # must be added to a projection or here, deliberately.
    "ParticipantProfileUpdated",
    "MatchRunCompleted",
    "MatchRunProposalsRecorded",
    "MatchRunPublished",
    "PairAccepted",
    "PairBlocked",
    "PairUnblocked",
    # A self-directed request that is accepted forms its pair with PairFormed too.
    "MentorRequested",
    "MentorRequestAccepted",
    "MentorRequestDeclined",
    "MentorRequestExpired",
    "MentorRequestExhausted",
    "MentorRequestCancelled",
    "MilestoneAdded",
    # Analytics keeps no personal data of employees (facts: department, level, dates),
    # so an erasure changes nothing here; see docs/erasure.md.
    "EmployeeErased",
}


def test_every_source_event_type_is_decided_on_or_deliberately_ignored():
    from analytics.adapters.projections import all_projections
    from mentorship_contracts import registry
    from mentorship_contracts.catalog import load_all

    load_all()
    handled = {name for p in all_projections() for name in p.changes}
    sources = {p.source for p in all_projections()}
    published = {c.event_type() for c in registry().all() if c.service in sources}

    assert handled <= published
    assert published - handled == IGNORED
