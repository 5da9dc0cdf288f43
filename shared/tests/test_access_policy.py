"""The shared access policy's mechanism (the rules themselves are proven by the matrix test)."""

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select

from kinerja_shared import access
from kinerja_shared.access import Columns, Resource, allows, require, require_action, scope_filter
from kinerja_shared.auth import Principal
from kinerja_shared.errors import Forbidden, NotFound

ACTION = access.rule("test.thing.read", guru="self", kepala_sekolah=("school", "assessor"),
                     pengawas="assessor", dinas="region", sistem="all")


@pytest.fixture(autouse=True, scope="module")
def _forget_test_rule():
    yield
    access.RULES.pop(ACTION, None)  # the docs table and the matrix test see only real actions


HERE = Resource(npsn="20100001", region="020500", owner_nip="1", assessor_nip="2")


def p(role, **claims) -> Principal:
    return Principal(sub="x", role=role, **claims)


@pytest.mark.parametrize("principal, expected", [
    (p("guru", nip="1"), True),
    (p("guru", nip="9", npsn="20100001"), False),
    (p("kepala_sekolah", nip="7", npsn="20100001"), True),
    (p("kepala_sekolah", nip="2", npsn="20109999"), True),   # the assessor, from another school
    (p("kepala_sekolah", nip="7", npsn="20109999"), False),
    (p("pengawas", nip="8", region="020500"), False),        # region alone is not enough
    (p("dinas", region="020500"), True),
    (p("dinas", region="020000"), True),                      # the province covers its districts
    (p("dinas", region="020600"), False),
    (p("dinas", region="030000"), False),
    (p("operator_dinas", region="020500"), False),            # not named in the rule
    (p("sistem"), True),
])
def test_allows(principal, expected):
    assert allows(principal, ACTION, HERE) is expected


def test_a_scope_role_without_its_claim_is_refused_not_widened():
    with pytest.raises(Forbidden) as caught:
        require_action(p("dinas"), ACTION)
    assert caught.value.code == "cakupan_tidak_ada"
    with pytest.raises(Forbidden) as caught:
        require_action(p("operator_dinas", region="020500"), ACTION)
    assert caught.value.code == "peran_tidak_diizinkan"


def test_require_can_hide_existence():
    hidden = NotFound("tidak_ditemukan", "Tidak ditemukan.", "Not found.")
    with pytest.raises(NotFound):
        require(p("dinas", region="030000"), ACTION, HERE, hide=hidden)
    require(p("dinas", region="020000"), ACTION, HERE)


def test_scope_filter_selects_exactly_what_allows_says():
    table = Table("t", MetaData(), Column("id", String, primary_key=True), Column("npsn", String),
                  Column("region", String), Column("owner", String), Column("assessor", String))
    rows = [
        {"id": "a", "npsn": "20100001", "region": "020500", "owner": "1", "assessor": "2"},
        {"id": "b", "npsn": "20100002", "region": "020500", "owner": "3", "assessor": "4"},
        {"id": "c", "npsn": "30100001", "region": "030100", "owner": "5", "assessor": "2"},
        {"id": "d", "npsn": "20200001", "region": "020600", "owner": "6", "assessor": "7"},
    ]
    engine = create_engine("sqlite://")
    table.metadata.create_all(engine)
    cols = Columns(owner_nip=table.c.owner, assessor_nip=table.c.assessor, npsn=table.c.npsn, region=table.c.region)
    principals = [p("guru", nip="1"), p("kepala_sekolah", nip="2", npsn="20100002"), p("pengawas", nip="2"),
                  p("dinas", region="020500"), p("dinas", region="020000"), p("dinas", region="030000"), p("sistem")]
    with engine.begin() as conn:
        conn.execute(insert(table), rows)
        for principal in principals:
            got = {r.id for r in conn.execute(select(table.c.id).where(scope_filter(principal, ACTION, cols)))}
            want = {r["id"] for r in rows if allows(principal, ACTION, Resource(
                npsn=r["npsn"], region=r["region"], owner_nip=r["owner"], assessor_nip=r["assessor"]))}
            assert got == want, principal


def test_markdown_table_names_every_role():
    table = access.markdown_table([ACTION])
    assert "| `test.thing.read` | self | assessor, school | assessor | region | - | - | all |" in table
