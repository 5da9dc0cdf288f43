"""Size limits checked at the edge, in one place (docs/operations.md, Limits, lists them all).

The text bounds are those of the columns the values end up in (a 255-character name column
is ``NAME_MAX``), so a value the edge accepts always fits its column on PostgreSQL, and an
event carrying it stays far below the broker's payload limit. Request models use them as
``Field(max_length=NAME_MAX)``, or derive from :class:`BoundedModel` (loosely typed bodies:
every string and list inside bounded); the roster import checks each column against
:data:`ROSTER_FIELD_MAX`. Only pydantic and kinerja_shared.errors besides: the domain may import it.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ValidationInfo, field_validator

from kinerja_shared.errors import AppError

# Identifiers we or the caller make up (UUIDs, slugs, import ids, object keys' ids).
ID_MAX = 64
# A person's, school's or period's name; a jabatan.
NAME_MAX = 255
# Short titles: an activity's or a plan step's title, a file name.
TITLE_MAX = 255
# A reason given for a decision (return, rejection, objection, correction).
REASON_MAX = 2_000
# Free text a person writes: notes, summaries, reflections, descriptions.
TEXT_MAX = 10_000
# Items in one list of a request body (steps, indicators, scores, ...).
LIST_MAX = 500
# Pagination: a page is at most this many items; offsets and page numbers are bounded too, so
# a huge value is a 422, never an integer overflow in the database.
PAGE_LIMIT_MAX = 1_000
OFFSET_MAX = 1_000_000
PAGE_MAX = 100_000
# X-Correlation-ID / Kinerja-Correlation-Id: the outbox column is 64 characters.
CORRELATION_ID_MAX = 64
# Nesting of a JSON request body (objects and arrays inside each other). Our deepest body is
# 3; Python's json module recurses, so a very deep document would raise RecursionError.
JSON_DEPTH_MAX = 32

# The roster file's columns (CSV and JSON), as stored in planning's schools/people tables.
ROSTER_FIELD_MAX: dict[str, int] = {
    "npsn": 8, "school_name": NAME_MAX, "region_code": 6, "nip": 18, "name": NAME_MAX,
    "role": 32, "jabatan": NAME_MAX, "jenjang": 32, "golongan": 16, "asn_status": 16,
    "assessor_nip": 18, "school_jenjang": 16, "school_status": 16, "province_code": 6,
    "nuptk": 16, "nik": 16, "jenis_ptk": 64,
}


def oversize(value: object, max_chars: int, max_items: int = LIST_MAX) -> str | None:
    """What is too large in a raw JSON value (strings over ``max_chars``, lists or objects over
    ``max_items``, looked at all the way down), or None. The JSON nesting is bounded before
    parsing (JSON_DEPTH_MAX), so the walk is shallow."""
    if isinstance(value, str):
        if "\x00" in value:  # PostgreSQL cannot store it (kinerja_shared.hardening.NulRefusal)
            return "mengandung karakter NUL (\\u0000)"
        return f"teks lebih dari {max_chars} karakter ({len(value)})" if len(value) > max_chars else None
    if isinstance(value, (list, tuple, dict)):
        if len(value) > max_items:
            return f"lebih dari {max_items} butir ({len(value)})"
        items = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        for key, item in items:
            if isinstance(key, str) and len(key) > max_chars:
                return f"nama kunci lebih dari {max_chars} karakter"
            if isinstance(key, str) and "\x00" in key:
                return "nama kunci mengandung karakter NUL (\\u0000)"
            if problem := oversize(item, max_chars, max_items):
                return f"{key}: {problem}"
    return None


class BoundedModel(BaseModel):
    """A request body whose every field is bounded, typed loosely (``Any``, ``dict``, ``list``)
    or not: each string, at any depth, at most ``TEXT_MAX`` characters (or the field's bound in
    ``bounds``), each list or object at most ``LIST_MAX`` items. A value over it is 422
    ``input_tidak_valid`` with ``details[].field`` naming the field (``body.reason``) and the
    problem naming the item inside it. Fields declaring ``max_length`` keep theirs too."""

    bounds: ClassVar[dict[str, int]] = {}

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        """The bounds in the OpenAPI documents too: maxLength (for a loosely typed field it
        applies to a string value), maxItems, maxProperties, where the field has none."""
        schema = handler(core_schema)
        for name, prop in handler.resolve_ref_schema(schema).get("properties", {}).items():
            _document_bound(prop, cls.bounds.get(name, TEXT_MAX))
        return schema

    @field_validator("*", mode="before")
    @classmethod
    def _bounded(cls, value: object, info: ValidationInfo) -> object:
        if problem := oversize(value, cls.bounds.get(info.field_name or "", TEXT_MAX)):
            raise ValueError(problem)
        return value


def _document_bound(prop: dict, max_chars: int) -> None:
    if "anyOf" in prop:
        for branch in prop["anyOf"]:
            _document_bound(branch, max_chars)
        return
    kind = prop.get("type")
    if kind == "string" or (kind is None and "$ref" not in prop and "enum" not in prop and "const" not in prop):
        prop.setdefault("maxLength", max_chars)
    if kind == "array":
        prop.setdefault("maxItems", LIST_MAX)
    if kind == "object":
        prop.setdefault("maxProperties", LIST_MAX)


def require_bounded(value: object, field: str, max_chars: int = TEXT_MAX) -> None:
    """:func:`oversize` for a body taken raw (``Body()`` typed ``Any``): 422 like a model's."""
    if problem := oversize(value, max_chars):
        raise AppError("input_tidak_valid", "Data yang dikirim tidak valid.",
                       "The request body or parameters are invalid.", status_code=422,
                       details=[{"field": field, "problem": problem}])
