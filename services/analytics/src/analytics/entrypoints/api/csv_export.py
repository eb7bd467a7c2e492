"""``Accept: text/csv``: every list and table of the API also as CSV.

Text cells that a spreadsheet would run as a formula (starting with = + - @ or a
control character) get a leading apostrophe: department names come from the HRIS,
and an export must never execute what someone typed there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final

from fastapi import Request
from fastapi.responses import Response

CSV_MEDIA_TYPE: Final = "text/csv"
_FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")

CSV_RESPONSE: Final[dict[int | str, dict[str, Any]]] = {
    200: {
        "content": {
            CSV_MEDIA_TYPE: {
                "schema": {"type": "string"},
                "example": "pair_id,reasons,last_session_on\n...",
            }
        },
        "description": "The same answer as JSON, or as CSV with `Accept: text/csv`.",
    }
}


def wants_csv(request: Request) -> bool:
    """True when the client asks for CSV (and not for JSON first)."""
    accept = request.headers.get("accept", "")
    types = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return CSV_MEDIA_TYPE in types and (
        "application/json" not in types
        or types.index(CSV_MEDIA_TYPE) < types.index("application/json")
    )


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(_cell(v) for v in value)
    text = str(value)
    if isinstance(value, str) and text.startswith(_FORMULA_STARTS):
        return "'" + text
    return text


def csv_response(
    columns: Sequence[str],
    rows: Iterable[Mapping[str, object]],
    *,
    filename: str,
    headers: Mapping[str, str] | None = None,
) -> Response:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return Response(
        buffer.getvalue(),
        media_type=f"{CSV_MEDIA_TYPE}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}.csv"',
            **(headers or {}),
        },
    )


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    """Nested mappings as one level with dotted keys (lists of scalars kept whole)."""
    if not isinstance(value, Mapping):
        return {prefix: value}
    flat: dict[str, object] = {}
    for key, inner in value.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        flat.update(flatten(inner, name))
    return flat
