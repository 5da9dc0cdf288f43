"""The one access policy: may this principal do this action on a resource of this school,
district or province?

Every endpoint of every service asks it, through :func:`require` (one resource),
:func:`require_action` (a command before its resource exists, or a list) and :func:`scope_filter`
(the WHERE clause of a list). A rule in :data:`RULES` names, per role, the *relations* under which
that role may act:

``self``      the record is the caller's own (``nip`` claim = the record's owner)
``assessor``  the caller is the record's assessor of record (the PPK, or a principal's pengawas)
``school``    the resource belongs to the caller's school (``npsn`` claim)
``region``    the resource's district is covered by the caller's ``region`` claim: a district
              code covers that district, a province code (``xx0000``) every district of it
``all``       anywhere: only ``sistem``, the machine identity of the services and operators' tools

A relation needs its claim: a dinas, operator_dinas or pengawas token without ``region`` covers
nothing and a kepala sekolah without ``npsn`` has no school. A missing claim is never widened to
"national": that was the hole this module closes.

Actions are named ``<context>.<thing>.<verb>`` and each route declares its own with
:func:`action_extra` so the OpenAPI documents carry it (``x-kinerja-action``); the table of who
may do what in docs/api.md is generated from these rules and a test checks every operation
against it for every role in every scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import ColumnElement, false, or_, true

from kinerja_shared.auth import Principal, Role
from kinerja_shared.errors import Forbidden, NotFound

Relation = Literal["self", "assessor", "school", "region", "all"]
RELATIONS: tuple[Relation, ...] = ("self", "assessor", "school", "region", "all")
ROLES: tuple[Role, ...] = (
    "guru", "kepala_sekolah", "pengawas", "dinas", "operator_sekolah", "operator_dinas", "sistem",
)
OPENAPI_KEY = "x-kinerja-action"


@dataclass(frozen=True)
class Resource:
    """Where a resource lives and whose it is; leave unknown fields None."""

    npsn: str | None = None
    region: str | None = None
    owner_nip: str | None = None
    assessor_nip: str | None = None


# role -> relations; a role that is absent may not do the action at all.
Rule = Mapping[str, frozenset[Relation]]

RULES: dict[str, Rule] = {}


def rule(action: str, **relations: Iterable[Relation] | str) -> str:
    """Register who may do ``action`` (``rule("plan.read", guru="self", dinas=("region",))``);
    returns the action name so a module can keep it as a constant. Registering one action twice
    with other relations is a programming error."""
    table: dict[str, frozenset[Relation]] = {}
    for role, given in relations.items():
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r} in rule {action!r}")
        names = (given,) if isinstance(given, str) else tuple(given)
        for name in names:
            if name not in RELATIONS:
                raise ValueError(f"unknown relation {name!r} in rule {action!r}")
        table[role] = frozenset(names)  # type: ignore[arg-type]
    if action in RULES and dict(RULES[action]) != table:
        raise ValueError(f"action {action!r} registered twice with different rules")
    RULES[action] = table
    return action


def covers_region(claim: str | None, region: str | None) -> bool:
    """A district claim covers its district; a province claim (``xx0000``) every district of it."""
    if not claim or not region:
        return False
    if claim.endswith("0000"):
        return region[:2] == claim[:2]
    return region == claim


def relations_for(principal: Principal, action: str) -> frozenset[Relation]:
    try:
        table = RULES[action]
    except KeyError:
        raise KeyError(f"no access rule for action {action!r}") from None
    return table.get(principal.role, frozenset())


def holds(principal: Principal, relation: Relation, resource: Resource) -> bool:
    if relation == "all":
        return True
    if relation == "self":
        return bool(principal.nip) and principal.nip == resource.owner_nip
    if relation == "assessor":
        return bool(principal.nip) and principal.nip == resource.assessor_nip
    if relation == "school":
        return bool(principal.npsn) and principal.npsn == resource.npsn
    if relation == "region":
        return covers_region(principal.region, resource.region)
    return False


def allows(principal: Principal, action: str, resource: Resource) -> bool:
    return any(holds(principal, r, resource) for r in relations_for(principal, action))


def _has_claims(principal: Principal, relations: Iterable[Relation]) -> bool:
    """Whether the token carries the claim at least one of the relations needs."""
    needs = {"self": principal.nip, "assessor": principal.nip, "school": principal.npsn,
             "region": principal.region, "all": True}
    return any(needs[r] for r in relations)


def denied() -> Forbidden:
    return Forbidden(
        "akses_ditolak",
        "Anda tidak berhak melakukan tindakan ini pada data ini.",
        "You may not do this on this resource.",
    )


def require_action(principal: Principal, action: str) -> frozenset[Relation]:
    """The role may do ``action`` somewhere and the token has the claims for it; returns the
    relations (for :func:`scope_filter`). 403 ``peran_tidak_diizinkan`` for a role the rule does
    not name, 403 ``cakupan_tidak_ada`` for a token without the scope claim its role needs."""
    relations = relations_for(principal, action)
    if not relations:
        raise Forbidden(
            "peran_tidak_diizinkan",
            f"Peran '{principal.role}' tidak boleh melakukan tindakan ini.",
            f"Role '{principal.role}' may not do this.",
        )
    if not _has_claims(principal, relations):
        raise Forbidden(
            "cakupan_tidak_ada",
            "Token Anda tidak memuat cakupan (NIP, NPSN atau wilayah) yang diperlukan peran Anda.",
            "Your token lacks the scope claim (nip, npsn or region) your role needs.",
        )
    return relations


def require(principal: Principal, action: str, resource: Resource, *, hide: NotFound | None = None) -> None:
    """Raise unless the principal may do ``action`` on ``resource``. With ``hide``, a caller who
    may not see the resource gets that 404 instead of 403 (existence is not revealed)."""
    require_action(principal, action)
    if not allows(principal, action, resource):
        raise hide if hide is not None else denied()


@dataclass(frozen=True)
class Columns:
    """The columns of a table that hold a resource's place, for :func:`scope_filter`; a column
    that a table does not have is None, and a relation on it then matches nothing."""

    owner_nip: Any = None
    assessor_nip: Any = None
    npsn: Any = None
    region: Any = None


def scope_filter(principal: Principal, action: str, columns: Columns) -> ColumnElement[bool]:
    """The WHERE clause of a list: the rows on which ``allows`` would say yes."""
    clauses: list[ColumnElement[bool]] = []
    for relation in require_action(principal, action):
        if relation == "all":
            return true()
        if relation == "self" and principal.nip and columns.owner_nip is not None:
            clauses.append(columns.owner_nip == principal.nip)
        elif relation == "assessor" and principal.nip and columns.assessor_nip is not None:
            clauses.append(columns.assessor_nip == principal.nip)
        elif relation == "school" and principal.npsn and columns.npsn is not None:
            clauses.append(columns.npsn == principal.npsn)
        elif relation == "region" and principal.region and columns.region is not None:
            claim = principal.region
            clauses.append(columns.region.startswith(claim[:2]) if claim.endswith("0000")
                           else columns.region == claim)
    return or_(*clauses) if clauses else false()


def action_extra(action: str) -> dict[str, str]:
    """``openapi_extra`` of a route: ``@router.get(..., openapi_extra=action_extra(PLAN_READ))``."""
    if action not in RULES:
        raise KeyError(f"no access rule for action {action!r}")
    return {OPENAPI_KEY: action}


def markdown_table(actions: Iterable[str] | None = None) -> str:
    """The who-may-do-what table of docs/api.md (one row per action, one column per role)."""
    names = sorted(actions if actions is not None else RULES)
    head = "| action | " + " | ".join(ROLES) + " |"
    rows = [head, "|" + "---|" * (len(ROLES) + 1)]
    for name in names:
        cells = [", ".join(r for r in RELATIONS if r in RULES[name].get(role, ())) or "-" for role in ROLES]
        rows.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(rows)
