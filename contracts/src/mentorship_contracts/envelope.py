"""CloudEvents 1.0 envelope: binary mode as NATS headers, structured mode as JSON.

The event body (``data``) is the contract's JSON; everything that locates the event lives
in the envelope. Extension attribute names are lower-case alphanumerics, as the
CloudEvents spec requires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"
HEADER_PREFIX = "ce-"


class CloudEvent(BaseModel):
    """One event in CloudEvents 1.0 structured JSON form (feeds and webhooks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: str = SPEC_VERSION
    id: str = Field(description="The event id; unique across the whole platform.")
    source: str = Field(description="The producing service, e.g. /mentorship/enrollment.")
    type: str = Field(description="Subject plus schema version, e.g. ...program.created.v1")
    subject: str = Field(description="The stream (aggregate) id the event belongs to.")
    time: datetime
    datacontenttype: str = CONTENT_TYPE
    data: dict[str, Any]
    eventtype: str = Field(description="The contract name, e.g. ProgramCreated.")
    schemaversion: int
    streamtype: str
    streamversion: int
    correlationid: str | None = None
    causationid: str | None = None
    actor: str | None = None
    traceparent: str | None = None

    def to_headers(self) -> dict[str, str]:
        """Binary-mode attributes for a NATS message; the body carries ``data``."""
        headers = {"content-type": self.datacontenttype}
        for name, value in self.model_dump(mode="json", exclude={"data"}).items():
            if value is None or name == "datacontenttype":
                continue
            if name == "traceparent":
                headers["traceparent"] = str(value)
            else:
                headers[HEADER_PREFIX + name] = str(value)
        return headers

    @classmethod
    def trusted(
        cls,
        *,
        id: str,  # noqa: A002 - the CloudEvents attribute name
        source: str,
        type: str,  # noqa: A002 - the CloudEvents attribute name
        subject: str,
        time: datetime,
        data: dict[str, Any],
        eventtype: str,
        schemaversion: int,
        streamtype: str,
        streamversion: int,
        correlationid: str | None = None,
        causationid: str | None = None,
        actor: str | None = None,
        traceparent: str | None = None,
    ) -> CloudEvent:
        """The envelope of values already of the right types, built without validation.

        For events read back from an event store, whose columns fix every type (text,
        integers, an aware timestamp, a JSON object): replaying history builds one
        envelope per event, and validating each again cost a replay a quarter of its
        time. Anything from outside (a NATS message, an HTTP feed, a webhook) is
        validated (``from_headers``, ``model_validate``). The result equals the
        validated model built from the same values; ``data`` is kept, not copied.
        """
        event = cls.__new__(cls)
        _set(
            event,
            "__dict__",
            {
                "specversion": SPEC_VERSION,
                "id": id,
                "source": source,
                "type": type,
                "subject": subject,
                "time": time,
                "datacontenttype": CONTENT_TYPE,
                "data": data,
                "eventtype": eventtype,
                "schemaversion": schemaversion,
                "streamtype": streamtype,
                "streamversion": streamversion,
                "correlationid": correlationid,
                "causationid": causationid,
                "actor": actor,
                "traceparent": traceparent,
            },
        )
        # What ``model_construct`` sets too (it is slower than validating: it walks every
        # field's aliases and defaults); the test beside the contracts holds them equal.
        _set(event, "__pydantic_fields_set__", set(_TRUSTED_FIELDS_SET))
        _set(event, "__pydantic_extra__", None)
        _set(event, "__pydantic_private__", None)
        return event

    @classmethod
    def from_headers(cls, headers: dict[str, str], data: dict[str, Any]) -> CloudEvent:
        attributes: dict[str, Any] = {
            name.removeprefix(HEADER_PREFIX): value
            for name, value in headers.items()
            if name.startswith(HEADER_PREFIX)
        }
        if "traceparent" in headers:
            attributes["traceparent"] = headers["traceparent"]
        attributes["datacontenttype"] = headers.get("content-type", CONTENT_TYPE)
        return cls.model_validate({**attributes, "data": data})


_set: Final = object.__setattr__
# The fields ``trusted`` takes, as if they had been passed to the constructor.
_TRUSTED_FIELDS_SET: Final = frozenset(CloudEvent.model_fields) - {"specversion", "datacontenttype"}
