"""The access matrix: every operation of a service's OpenAPI x every role x every scope, called
in-process against seeded data, and checked against what the rules in kinerja_shared.access say.

The world is fixed: school A (the fixture school) and school B in district D (020500), school C
in district D2 (020600) of the same province P (020000), school E in another province (030500).
Each school has a kepala sekolah, two guru (the first is assessed by the kepala sekolah) and a
pengawas of its district who assesses the kepala sekolah. The records the operations act on
belong to school A: the first guru's plan, evidence, assessment... A principal is built for each
role from the people of a school (the *scope*), and the expected outcome of a cell is computed
from the rules (``access.allows`` with the fixture resource's place), never written per cell.

A helper module, not a conftest: every tests/ folder shares one pytest session and
``--import-mode=importlib``, so the test modules put this folder on sys.path and import it by
this unique name.
"""

from __future__ import annotations

import importlib.util
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kinerja_shared import access
from kinerja_shared.access import Resource
from kinerja_shared.auth import Principal
from kinerja_shared.testing.http import bearer

PROVINCE = "020000"
DISTRICT = "020500"


@dataclass(frozen=True)
class School:
    key: str
    npsn: str
    region: str
    name: str
    ks: str
    gurus: tuple[str, str]
    pengawas: str

    @property
    def people(self) -> dict[str, str]:
        """NIP -> role of everyone in the school (the pengawas too: it assesses the ks)."""
        return {self.ks: "kepala_sekolah", self.gurus[0]: "guru", self.gurus[1]: "guru", self.pengawas: "pengawas"}


def _school(key: str, npsn: str, region: str, n: int) -> School:
    # NIPs whose parts are possible (birth date, CPNS start, sex, sequence) and unique per school.
    return School(
        key=key, npsn=npsn, region=region, name=f"SD Negeri {n} Matriks",
        ks=f"1972041519980220{n:02d}", gurus=(f"1985031220100120{n:02d}", f"1990071120150110{n:02d}"),
        pengawas=f"1968051419930310{n:02d}",
    )


SCHOOL_A = _school("A", "20500001", "020500", 1)
SCHOOL_B = _school("B", "20500002", "020500", 2)
SCHOOL_C = _school("C", "20600001", "020600", 3)
SCHOOL_E = _school("E", "30500001", "030500", 5)
SCHOOLS = (SCHOOL_A, SCHOOL_B, SCHOOL_C, SCHOOL_E)


def school_of(nip: str | None) -> School | None:
    for school in SCHOOLS:
        if nip in school.people:
            return school
    return None


# The fixture records' places (the operations' tables name one of these, or a function of the
# caller for a command that makes the caller's own record).
GURU_RECORD = Resource(npsn=SCHOOL_A.npsn, region=SCHOOL_A.region, owner_nip=SCHOOL_A.gurus[0],
                       assessor_nip=SCHOOL_A.ks)
# The school's other guru's (where one record cannot serve every call: an observation started on
# the first guru's assessment would hold up its finalisation).
COLLEAGUE_RECORD = Resource(npsn=SCHOOL_A.npsn, region=SCHOOL_A.region, owner_nip=SCHOOL_A.gurus[1],
                            assessor_nip=SCHOOL_A.ks)
KS_RECORD = Resource(npsn=SCHOOL_A.npsn, region=SCHOOL_A.region, owner_nip=SCHOOL_A.ks,
                     assessor_nip=SCHOOL_A.pengawas)
SCHOOL = Resource(npsn=SCHOOL_A.npsn, region=SCHOOL_A.region)
DISTRICT_D = Resource(region=SCHOOL_A.region)
NATIONAL = Resource()  # a period, a policy: no place, only "all" reaches it


def own_record(principal: Principal) -> Resource:
    """The record a command makes for its caller (a plan, an upload): the caller's own, in the
    caller's school as the roster has it."""
    school = school_of(principal.nip)
    if school is None:
        return Resource(owner_nip=principal.nip)
    assessor = school.pengawas if principal.nip == school.ks else school.ks
    return Resource(npsn=school.npsn, region=school.region, owner_nip=principal.nip, assessor_nip=assessor)


# ---------------------------------------------------------------------------- principals


@dataclass(frozen=True)
class Scope:
    name: str
    school: School | None
    # Only these roles are tried in this scope (None: every role but sistem).
    roles: tuple[str, ...] | None = None
    region: str | None = None  # a region claim other than the school's district
    colleague: bool = False     # the school's other guru instead of the record's owner
    no_claims: bool = False
    nip_only: bool = False


SCOPES = (
    Scope("own school", SCHOOL_A),
    Scope("own school, a colleague", SCHOOL_A, roles=("guru",), colleague=True),
    Scope("other school, same district", SCHOOL_B),
    Scope("other district, same province", SCHOOL_C),
    Scope("other province", SCHOOL_E),
    Scope("province claim", None, roles=("pengawas", "dinas", "operator_dinas"), region=PROVINCE),
    Scope("other province claim", None, roles=("pengawas", "dinas", "operator_dinas"), region="030000"),
    Scope("token without its scope claim", None, no_claims=True),
    # The record's own people with their NIP but without the school or region claim.
    Scope("own NIP, no npsn/region claim", SCHOOL_A, roles=("guru", "kepala_sekolah", "pengawas"), nip_only=True),
)
SISTEM_SCOPE = Scope("(machine)", None, roles=("sistem",))
ROLES = tuple(r for r in access.ROLES if r != "sistem")


def principal_for(role: str, scope: Scope) -> Principal | None:
    if scope.no_claims:
        return Principal(sub=f"{role}-tanpa-cakupan", role=role)
    if scope.school is None:
        if role in ("pengawas",):
            # A provincial pengawas: a NIP of nobody's assessor, the province's code.
            return Principal(sub="pengawas-provinsi", role=role, nip="196001011985031099", region=scope.region)
        return Principal(sub=f"{role}-{scope.region}", role=role, region=scope.region)
    s = scope.school
    if scope.nip_only:
        nip = {"guru": s.gurus[0], "kepala_sekolah": s.ks, "pengawas": s.pengawas}[role]
        return Principal(sub=nip, role=role, nip=nip)
    if role == "guru":
        nip = s.gurus[1] if scope.colleague else s.gurus[0]
        return Principal(sub=nip, role=role, nip=nip, npsn=s.npsn)
    if role == "kepala_sekolah":
        return Principal(sub=s.ks, role=role, nip=s.ks, npsn=s.npsn)
    if role == "pengawas":
        return Principal(sub=s.pengawas, role=role, nip=s.pengawas, region=s.region)
    if role == "operator_sekolah":
        return Principal(sub=f"operator-{s.npsn}", role=role, npsn=s.npsn)
    if role in ("dinas", "operator_dinas"):
        return Principal(sub=f"{role}-{s.region}", role=role, region=s.region)
    return None


def cells() -> list[tuple[Scope, Principal]]:
    """Every (scope, principal) to try, each distinct principal once (a dinas of school A's
    district and one of school B's are the same token)."""
    out: list[tuple[Scope, Principal]] = []
    seen: set[tuple] = set()
    for scope in (*SCOPES, SISTEM_SCOPE):
        for role in scope.roles or ROLES:
            principal = (Principal(sub="sistem", role="sistem") if role == "sistem"
                         else principal_for(role, scope))
            if principal is None:
                continue
            key = (principal.role, principal.nip, principal.npsn, principal.region)
            if key in seen:
                continue
            seen.add(key)
            out.append((scope, principal))
    return out


def auth(principal: Principal) -> dict[str, str]:
    return bearer(principal.role, nip=principal.nip, npsn=principal.npsn, region=principal.region)


# ---------------------------------------------------------------------------- operations

Call = Callable[[Any, dict[str, str]], Awaitable[httpx.Response]]


@dataclass
class Op:
    """How to call one operation of the OpenAPI document, and on what.

    ``resource``: the place of what the call acts on (a Resource, or a function of the caller
    for a command that makes the caller's own record). ``listing``: for a list, a function of
    the response JSON that returns the ids it shows, and ``target`` the fixture's id that must
    appear exactly when the rules allow it. ``hides``: a caller who may not see the resource
    gets 404 (existence not revealed) instead of 403. ``fresh``: for a call that uses its
    resource up (a delete), a coroutine making a new one before each allowed cell; the call
    then receives it as ``ctx.fresh``.
    """

    key: str  # "METHOD /path" as in the OpenAPI document
    call: Call
    resource: Resource | tuple[Resource, ...] | Callable[[Principal], Resource]
    listing: Callable[[Any], set[str]] | None = None
    target: Callable[[Any], str] | None = None
    hides: bool = False
    fresh: Callable[[Any, Principal], Awaitable[Any]] | None = None
    before: Callable[[Any], Awaitable[None]] | None = None  # once, before the op's first cell
    note: str = ""  # what distinguishes two entries of one operation (another record)
    # A restriction beyond the rules, stated here so the report shows it: the record's owner
    # (who is not also its assessor) may not, whatever a relation such as "school" says.
    not_owner: bool = False

    def places(self, principal: Principal) -> tuple[Resource, ...]:
        """What the call acts on: one resource, or several that must all be in reach (a roster
        file listing two schools)."""
        found = self.resource(principal) if callable(self.resource) else self.resource
        return found if isinstance(found, tuple) else (found,)


# The operations of a document, and the ones that answer everyone: one definition, in the script
# that writes the documents and the docs tables (make docs).
_spec = importlib.util.spec_from_file_location(
    "openapi_docs", Path(__file__).resolve().parents[1] / "contract" / "openapi_docs.py")
openapi_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(openapi_docs)
operations_of = openapi_docs.operations
UNGUARDED = openapi_docs.UNGUARDED


# ---------------------------------------------------------------------------- expectations

@dataclass(frozen=True)
class Expected:
    outcome: str   # "allowed", "refused" (403 from the role or a missing claim), "denied"
    why: str


def expect(action: str, principal: Principal, resources: tuple[Resource, ...]) -> Expected:
    relations = access.relations_for(principal, action)
    if not relations:
        return Expected("refused", "role not in the rule")
    if not access._has_claims(principal, relations):
        return Expected("refused", "token lacks the scope claim")
    if all(access.allows(principal, action, r) for r in resources):
        held = {rel for rel in relations for r in resources if access.holds(principal, rel, r)}
        return Expected("allowed", "via " + ", ".join(sorted(held)))
    return Expected("denied", "rule " + ", ".join(sorted(relations)) + " does not hold")


def _restricted(op: Op, principal: Principal, exp: Expected) -> Expected:
    if op.not_owner and exp.outcome == "allowed" and principal.nip and any(
            principal.nip == r.owner_nip and principal.nip != r.assessor_nip for r in op.places(principal)):
        return Expected("denied", "the record's owner: not_owner in the table of calls")
    return exp


@dataclass
class Cell:
    op: str
    action: str
    role: str
    scope: str
    claims: str
    expected: str
    got: str
    ok: bool
    detail: str = ""


def _claims(p: Principal) -> str:
    return " ".join(f"{k}={v}" for k, v in (("nip", p.nip), ("npsn", p.npsn), ("region", p.region)) if v) or "-"


def _code(response: httpx.Response) -> str:
    try:
        return response.json().get("error", {}).get("code", "")
    except (ValueError, AttributeError):
        return ""


def judge(op: Op, exp: Expected, response: httpx.Response, ctx: Any) -> tuple[bool, str]:
    status = response.status_code
    code = _code(response)
    got = f"{status} {code}".strip()
    if status == 401:
        return False, got
    if exp.outcome == "allowed":
        if status == 403:
            return False, got
        if status == 404 and op.fresh is None:
            return False, got + " (hidden from an allowed caller?)"
        if status >= 500:
            return False, got
        if op.listing is not None and status == 200:
            ids = op.listing(response.json())
            if op.target(ctx) not in ids:
                return False, got + " without the fixture record"
        return True, got
    if exp.outcome == "refused":
        return status == 403, got
    # denied: the rule names the role and the token has the claim, but the relation fails
    if op.listing is not None:
        if status == 200:
            ids = op.listing(response.json())
            if op.target(ctx) in ids:
                return False, got + " WITH the fixture record"
            return True, got + " (filtered)"
        return status == 403, got
    if op.hides:
        return status == 404, got
    return status == 403, got


async def run_matrix(service: str, openapi: Mapping, ops: list[Op], ctx: Any) -> tuple[list[Cell], list[str]]:
    """Run every cell; returns the cells and the problems found before calling anything
    (operations without a table entry or without an action)."""
    declared = operations_of(openapi)
    problems = []
    by_key = {op.key: op for op in ops}
    for key, action in sorted(declared.items()):
        if UNGUARDED.match(key):
            continue
        if key not in by_key:
            problems.append(f"{service}: {key} has no entry in the matrix's table of calls")
        if action is None:
            problems.append(f"{service}: {key} declares no {access.OPENAPI_KEY}")
        elif action not in access.RULES:
            problems.append(f"{service}: {key} declares {action!r}, which has no rule")
    for key in by_key:
        if key not in declared:
            problems.append(f"{service}: the table names {key}, which the OpenAPI document does not have")
    results: list[Cell] = []
    everyone = cells()
    for op in ops:  # the table's order: calls that change or use up state come last
        action = declared.get(op.key)
        if action is None or action not in access.RULES:
            continue
        if op.before is not None:
            await op.before(ctx)
        planned = [(scope, p, _restricted(op, p, expect(action, p, op.places(p)))) for scope, p in everyone]
        # Refusals first, on the record as seeded; then the callers who may.
        planned.sort(key=lambda c: c[2].outcome == "allowed")
        for scope, principal, exp in planned:
            # A refused caller tries the seeded record; an allowed one a fresh one if it uses it up.
            ctx.fresh = None
            if exp.outcome == "allowed" and op.fresh is not None:
                ctx.fresh = await op.fresh(ctx, principal)
            response = await op.call(ctx, auth(principal))
            ok, got = judge(op, exp, response, ctx)
            results.append(Cell(op.key + (f" [{op.note}]" if op.note else ""), action, principal.role, scope.name, _claims(principal),
                                f"{exp.outcome} ({exp.why})", got, ok,
                                "" if ok else response.text[:200]))
    return results, problems


def report(service: str, results: list[Cell], problems: list[str], seconds: float) -> str:
    bad = [c for c in results if not c.ok]
    lines = [f"{service}: {len(results)} cells in {seconds:.1f} s, {len(bad)} wrong;"
             f" {len(problems)} problems with the table or the document"]
    lines += [f"  {p}" for p in problems]
    if bad:
        lines.append(f"  {'operation':<52} {'role':<16} {'scope':<31} {'expected':<44} got")
        for c in bad:
            lines.append(f"  {c.op:<52} {c.role:<16} {c.scope:<31} {c.expected:<44} {c.got}")
            lines.append(f"      claims: {c.claims}; action {c.action}; body: {c.detail}")
    return "\n".join(lines)


@dataclass
class Ctx:
    """What the seeding made: ids of the fixture records (free-form attributes)."""

    client: httpx.AsyncClient
    ids: dict[str, str] = field(default_factory=dict)
    fresh: Any = None

    def __getattr__(self, name: str) -> str:
        try:
            return self.__dict__["ids"][name]
        except KeyError:
            raise AttributeError(name) from None


async def check(service: str, ops: list[Op], ctx: Ctx) -> None:
    """Run the matrix of the service behind ``ctx.client`` from the OpenAPI document it serves."""
    served = await ctx.client.get("/openapi.json")
    assert served.status_code == 200, served.text
    openapi = served.json()
    started = time.monotonic()
    results, problems = await run_matrix(service, openapi, ops, ctx)
    text = report(service, results, problems, time.monotonic() - started)
    print(text)
    assert not problems and all(c.ok for c in results), text


def dump_json(obj: Any) -> str:
    return json.dumps(obj, indent=1, default=str)


# ---------------------------------------------------------------------------- planning's events

def roster_event(school: School):
    """The RosterImported planning publishes for one school of the world."""
    import uuid

    from kinerja_shared.events import PersonRef, RosterImported, SchoolRef

    return RosterImported(
        import_id=str(uuid.uuid4()),
        school=SchoolRef(npsn=school.npsn, name=school.name, region=school.region,
                         province=school.region[:2] + "0000"),
        people=[
            PersonRef(nip=school.ks, name=f"Kepala {school.key}", role="kepala_sekolah", jabatan="Kepala Sekolah",
                      jenjang="Ahli Madya", golongan="IV/a", assessor_nip=school.pengawas),
            *(PersonRef(nip=nip, name=f"Guru {school.key}{i}", role="guru", jabatan="Guru Kelas",
                        jenjang="Ahli Muda", golongan="III/c", assessor_nip=school.ks)
              for i, nip in enumerate(school.gurus)),
        ],
    )


async def publish(js, contract, region: str = DISTRICT, producer: str = "planning"):
    """Publish an event as its producer would (an envelope, Nats-Msg-Id = the event id)."""
    from kinerja_shared.events import make_envelope

    envelope = make_envelope(contract, producer=producer, region=region, correlation_id="akses-matriks")
    await js.publish(envelope.subject(), envelope.model_dump_json().encode(),
                     headers={"Nats-Msg-Id": envelope.event_id})
    return envelope
