"""CloudEvents 1.0 envelope: binary mode as NATS headers, structured mode as JSON.

The event body (``data``) is the contract's JSON; everything that locates the event lives
in the envelope. Extension attribute names are lower-case alphanumerics, as the
CloudEvents spec requires.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
