"""deploy/keycloak/kinerja-realm.json: the Keycloak realm a province imports. Keycloak does not
run here, so the export is read as data: the roles are Kinerja's, the client's mappers put
exactly the claims the verifier reads into the access token, every role has a test user with
the scope claims its role needs, and a token shaped as those mappers shape it verifies."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from kinerja_shared.auth import ROLES, TokenVerifier
from kinerja_shared.dev_issuer import DevIssuer
from kinerja_shared.settings import ServiceSettings

REALM = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "keycloak" / "kinerja-realm.json").read_text())
# The claims the access policy needs for each role (kinerja_shared.access): never widened.
NEEDS = {"guru": {"nip", "npsn"}, "kepala_sekolah": {"nip", "npsn"}, "pengawas": {"nip", "region"},
         "dinas": {"region"}, "operator_sekolah": {"npsn"}, "operator_dinas": {"region"}, "sistem": set()}


def client(client_id: str) -> dict:
    return next(c for c in REALM["clients"] if c["clientId"] == client_id)


def mappers(client_id: str) -> dict[str, dict]:
    return {m["config"].get("claim.name", m["name"]): m for m in client(client_id)["protocolMappers"]}


def test_the_realm_has_kinerjas_roles_as_client_roles():
    assert [r["name"] for r in REALM["roles"]["client"]["kinerja"]] == list(ROLES)


@pytest.mark.parametrize("client_id", ["kinerja", "kinerja-sistem"])
def test_the_clients_map_role_nip_npsn_region_and_the_audience_into_the_access_token(client_id):
    found = mappers(client_id)
    role = found["role"]
    assert role["protocolMapper"] == "oidc-usermodel-client-role-mapper"
    assert role["config"]["usermodel.clientRoleMapping.clientId"] == "kinerja"
    for claim in ("nip", "npsn", "region"):
        assert found[claim]["protocolMapper"] == "oidc-usermodel-attribute-mapper"
        assert found[claim]["config"]["user.attribute"] == claim
    audience = next(m for m in client(client_id)["protocolMappers"] if m["protocolMapper"] == "oidc-audience-mapper")
    assert audience["config"]["included.client.audience"] == ServiceSettings.model_fields["oidc_audience"].default
    for mapper in client(client_id)["protocolMappers"]:
        assert mapper["config"]["access.token.claim"] == "true"


def test_scope_attributes_are_declared_and_only_an_administrator_edits_them():
    provider = REALM["components"]["org.keycloak.userprofile.UserProfileProvider"][0]
    profile = json.loads(provider["config"]["kc.user.profile.config"][0])
    attributes = {a["name"]: a for a in profile["attributes"]}
    for name in ("nip", "npsn", "region"):
        # A user who could edit their own region would widen their own access.
        assert attributes[name]["permissions"]["edit"] == ["admin"]
    assert attributes["username"]["permissions"]["edit"] == ["admin"]


def test_a_test_user_per_role_with_the_claims_the_role_needs():
    people = [u for u in REALM["users"] if "serviceAccountClientId" not in u]
    by_role = {u["clientRoles"]["kinerja"][0]: u for u in people}
    assert sorted(by_role) == sorted(ROLES)
    for role, user in by_role.items():
        assert user["clientRoles"] == {"kinerja": [role]}
        assert NEEDS[role] <= set(user["attributes"]), role
        assert user["credentials"][0]["temporary"] is False
    robot = next(u for u in REALM["users"] if u.get("serviceAccountClientId") == "kinerja-sistem")
    assert robot["clientRoles"] == {"kinerja": ["sistem"]}
    assert client("kinerja-sistem")["serviceAccountsEnabled"] is True


def test_the_access_tokens_those_mappers_make_verify(tmp_path):
    """A token shaped as Keycloak 26 shapes it for each test user (role a list, aud a list,
    Keycloak's own claims beside ours) is accepted and names the principal."""
    issuer = DevIssuer(tmp_path / "keys.json", port=0).start()
    try:
        verify = TokenVerifier(ServiceSettings(oidc_issuer=issuer.issuer)).verify
        now = int(time.time())
        for user in REALM["users"]:
            if "serviceAccountClientId" in user:
                continue
            claims = {"iss": issuer.issuer, "aud": ["kinerja", "account"], "sub": "a1b2c3d4-0000-4000-8000-000000000000",
                      "typ": "Bearer", "azp": "kinerja", "iat": now, "exp": now + REALM["accessTokenLifespan"],
                      "preferred_username": user["username"], "role": user["clientRoles"]["kinerja"],
                      "realm_access": {"roles": ["offline_access", "default-roles-kinerja"]},
                      **{name: values[0] for name, values in user["attributes"].items()}}
            principal = verify(issuer.sign(claims))
            assert principal.role == user["clientRoles"]["kinerja"][0]
            for name, values in user["attributes"].items():
                assert getattr(principal, name) == values[0]
    finally:
        issuer.stop()
