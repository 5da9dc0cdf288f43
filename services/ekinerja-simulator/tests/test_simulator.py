"""The e-Kinerja SIMULATOR: both tokens required, save and read, validation, faults."""

from __future__ import annotations

import time

import httpx
import pytest

from ekinerja_simulator.app import create_app
from ekinerja_simulator.settings import SimulatorSettings

NIP = "198503122010012001"
UNKNOWN = "199001012015031001"


def payload(**changes) -> dict:
    body = {
        "bulanMulaiPenilaian": 1, "bulanSelesaiPenilaian": 6,
        "tahunMulaiPenilaian": 2026, "tahunSelesaiPenilaian": 2026, "tahun": 2026,
        "hasilKinerjaNilai": 1, "perilakuKerjaNilai": 2, "kuadranKinerjaNilai": 2,
        "koefisienId": "1", "periodikId": 3, "pnsDinilaiId": NIP,
        "penilaiNama": "Dra. Sri Wahyuni", "penilaiNipNrp": "197204151998022001",
        "penilaiGolongan": "IV/a", "penilaiJabatanNama": "Kepala Sekolah",
        "penilaiUnorNama": "SD Negeri 1 Cibinong", "statusPenilai": "ASN",
    }
    body.update(changes)
    return body


@pytest.fixture
async def sim():
    app = create_app(SimulatorSettings(unknown_nips=UNKNOWN, token_ttl_s=3600, seed=7))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        client.app = app
        yield client


async def tokens(client) -> dict[str, str]:
    api = await client.post("/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "kinerja", "client_secret": "kinerja-sim-secret"})
    sso = await client.post("/sso/token", data={
        "grant_type": "password", "username": "kinerja", "password": "kinerja-sim-password"})
    assert api.status_code == 200 and sso.status_code == 200
    assert api.json()["token_type"] == "Bearer" and api.json()["expires_in"] == 3600
    return {"Authorization": f"Bearer {api.json()['access_token']}", "Auth": f"bearer {sso.json()['access_token']}"}


async def test_wrong_credentials_are_401(sim):
    r = await sim.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": "kinerja", "client_secret": "x"})
    assert r.status_code == 401
    r = await sim.post("/sso/token", data={"grant_type": "password", "username": "kinerja", "password": "x"})
    assert r.status_code == 401
    r = await sim.post("/sso/token", data={"grant_type": "client_credentials", "username": "kinerja", "password": "kinerja-sim-password"})
    assert r.status_code == 400


async def test_both_tokens_are_required(sim):
    headers = await tokens(sim)
    for partial in ({"Authorization": headers["Authorization"]}, {"Auth": headers["Auth"]}, {}):
        r = await sim.post("/kinerjaperiodik/save", json=payload(), headers=partial)
        assert r.status_code == 401 and r.json()["success"] is False
        r = await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=partial)
        assert r.status_code == 401
    # The SSO token in the API-manager slot does not count.
    swapped = {"Authorization": "Bearer " + headers["Auth"].split()[1], "Auth": headers["Auth"]}
    assert (await sim.post("/kinerjaperiodik/save", json=payload(), headers=swapped)).status_code == 401
    assert (await sim.get("/simulator/records")).json()["count"] == 0


async def test_expired_and_revoked_tokens_are_401(sim):
    headers = await tokens(sim)
    state = sim.app.state.sim
    for store in (state.api_tokens, state.sso_tokens):
        for token in store:
            store[token] = time.monotonic() - 1
    assert (await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)).status_code == 401
    headers = await tokens(sim)
    assert (await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)).status_code == 200
    assert (await sim.post("/simulator/tokens/revoke")).json()["revoked"] == 2
    assert (await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)).status_code == 401


async def test_save_read_and_update(sim):
    headers = await tokens(sim)
    r = await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)
    assert r.status_code == 200
    assert r.json()["success"] is True and r.json()["message"] == "Data berhasil disimpan"
    record_id = r.json()["mapData"]["id"]
    r = await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)
    [stored] = r.json()["data"]
    assert stored["id"] == record_id and stored["kuadranKinerjaNilai"] == 2
    assert stored["penilaiNipNrp"] == "197204151998022001"
    # An update with the id changes the record in place.
    r = await sim.post("/kinerjaperiodik/save", json=payload(id=record_id, kuadranKinerjaNilai=1), headers=headers)
    assert r.json()["mapData"]["id"] == record_id
    records = (await sim.get("/simulator/records")).json()
    assert records["count"] == 1 and records["records"][0]["kuadranKinerjaNilai"] == 1
    assert records["count_by_nip_period"] == {f"{NIP}/2026/1-6": 1}
    # A second save without id is a second record: the simulator does not de-duplicate, it shows.
    await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)
    assert (await sim.get("/simulator/records")).json()["count_by_nip_period"] == {f"{NIP}/2026/1-6": 2}
    # Another NIP is not in this one's history.
    r = await sim.get("/pns/rw-kinerjaperiodik/197204151998022001", headers=headers)
    assert r.json() == {"success": True, "data": []}


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"pnsDinilaiId": UNKNOWN}, "NIP tidak ditemukan di SIASN"),
        ({"hasilKinerjaNilai": 4}, "hasilKinerjaNilai"),
        ({"perilakuKerjaNilai": 0}, "perilakuKerjaNilai"),
        ({"kuadranKinerjaNilai": 6}, "kuadranKinerjaNilai"),
        ({"bulanMulaiPenilaian": 13}, "bulanMulaiPenilaian"),
        ({"statusPenilai": "PNS"}, "statusPenilai"),
        ({"koefisienId": "9"}, "koefisienId"),
        ({"periodikId": 7}, "periodikId"),
        ({"bulanMulaiPenilaian": 7, "bulanSelesaiPenilaian": 6}, "Bulan mulai"),
        ({"id": "no-such-id"}, "tidak ditemukan"),
    ],
)
async def test_validation_is_400_with_a_message_and_stores_nothing(sim, changes, fragment):
    headers = await tokens(sim)
    r = await sim.post("/kinerjaperiodik/save", json=payload(**changes), headers=headers)
    assert r.status_code == 400
    assert r.json()["success"] is False and fragment in r.json()["message"]
    assert (await sim.get("/simulator/records")).json()["count"] == 0


async def test_unknown_nip_from_settings_and_at_runtime(sim):
    headers = await tokens(sim)
    r = await sim.post("/kinerjaperiodik/save", json=payload(pnsDinilaiId=UNKNOWN), headers=headers)
    assert r.json()["message"] == "NIP tidak ditemukan di SIASN"
    await sim.put("/simulator/faults", json={"unknown_nips": [NIP]})
    r = await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)
    assert r.status_code == 400 and r.json()["message"] == "NIP tidak ditemukan di SIASN"


async def test_counted_faults_429_5xx_and_after_save(sim):
    headers = await tokens(sim)
    faults = (await sim.put("/simulator/faults", json={"next_429": 1, "next_5xx": 1, "next_5xx_after_save": 1, "retry_after_s": 3})).json()
    assert faults["next_429"] == 1 and faults["retry_after_s"] == 3
    r = await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)
    assert r.status_code == 429 and r.headers["Retry-After"] == "3"
    r = await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)
    assert r.status_code == 503 and r.json()["success"] is False
    assert (await sim.get("/simulator/records")).json()["count"] == 0
    # Stored, but the client hears 502.
    r = await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)
    assert r.status_code == 502
    assert (await sim.get("/simulator/records")).json()["count"] == 1
    r = await sim.post("/kinerjaperiodik/save", json=payload(pnsDinilaiId="197204151998022001"), headers=headers)
    assert r.status_code == 200


async def test_rates_and_slow_answers(sim):
    headers = await tokens(sim)
    await sim.put("/simulator/faults", json={"rate_5xx": 1.0})
    statuses = [(await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)).status_code for _ in range(5)]
    assert statuses == [503] * 5
    await sim.put("/simulator/faults", json={"rate_5xx": 0.0, "rate_429": 0.5})
    statuses = {(await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)).status_code for _ in range(40)}
    assert statuses == {200, 429}
    await sim.put("/simulator/faults", json={"rate_429": 0.0, "slow_ms": 300})
    started = time.monotonic()
    r = await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)
    assert r.status_code == 200 and time.monotonic() - started >= 0.3
    # Bad fault values are refused and change nothing.
    r = await sim.put("/simulator/faults", json={"rate_5xx": 2})
    assert r.status_code == 422
    assert (await sim.get("/simulator/faults")).json()["rate_5xx"] == 0.0


async def test_reset_forgets_records_tokens_and_faults(sim):
    headers = await tokens(sim)
    await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)
    await sim.put("/simulator/faults", json={"rate_5xx": 1.0})
    await sim.post("/simulator/reset")
    assert (await sim.get("/simulator/records")).json()["count"] == 0
    assert (await sim.get("/simulator/faults")).json()["rate_5xx"] == 0.0
    assert (await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)).status_code == 401


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("KINERJA_SIM_HTTP_PORT", "8299")
    monkeypatch.setenv("KINERJA_SIM_UNKNOWN_NIPS", f"{UNKNOWN}, {NIP}")
    monkeypatch.setenv("KINERJA_SIM_RATE_429", "0.25")
    s = SimulatorSettings()
    assert s.http_port == 8299 and s.rate_429 == 0.25 and s.client_id == "kinerja"
    assert s.unknown_nip_set() == {UNKNOWN, NIP}
    monkeypatch.setenv("KINERJA_SIM_RATE_5XX", "1.5")
    with pytest.raises(ValueError):
        SimulatorSettings()


@pytest.fixture
def served():
    """The simulator on a real socket: a dropped connection only exists over TCP."""
    import threading

    import uvicorn

    from kinerja_shared.testing.servers import free_port, wait_for_port

    port = free_port()
    app = create_app(SimulatorSettings(http_port=port, seed=3))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


async def test_timeout_stores_nothing_and_drop_after_save_stores_once(served):
    async with httpx.AsyncClient(base_url=served, timeout=0.5) as client:
        headers = await tokens(client)
        await client.put("/simulator/faults", json={"next_timeout": 1, "timeout_hang_s": 2})
        with pytest.raises(httpx.TimeoutException):
            await client.post("/kinerjaperiodik/save", json=payload(), headers=headers)
        assert (await client.get("/simulator/records")).json()["count"] == 0
        # The duplicate-maker: stored, but the client never reads an answer.
        await client.put("/simulator/faults", json={"next_drop_after_save": 1})
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/kinerjaperiodik/save", json=payload(), headers=headers)
        records = (await client.get("/simulator/records")).json()
        assert records["count"] == 1 and records["calls"]["dropped_after_save"] == 1
        assert records["count_by_nip_period"] == {f"{NIP}/2026/1-6": 1} and records["duplicates"] == {}
        # A naive client re-sends: the counter shows the duplicate.
        r = await client.post("/kinerjaperiodik/save", json=payload(), headers=headers)
        assert r.status_code == 200
        records = (await client.get("/simulator/records")).json()
        assert records["count_by_nip_period"] == {f"{NIP}/2026/1-6": 2}
        assert records["duplicates"] == {f"{NIP}/2026/1-6": 2}


async def test_fault_rates_for_timeout_and_drop(served):
    async with httpx.AsyncClient(base_url=served, timeout=0.3) as client:
        headers = await tokens(client)
        await client.put("/simulator/faults", json={"rate_timeout": 0.5, "timeout_hang_s": 1, "rate_drop_after_save": 0.5})
        outcomes = []
        for _ in range(24):
            try:
                outcomes.append((await client.post("/kinerjaperiodik/save", json=payload(), headers=headers)).status_code)
            except httpx.TimeoutException:
                outcomes.append("timeout")
            except httpx.RemoteProtocolError:
                outcomes.append("dropped")
        assert {"timeout", "dropped", 200} <= set(outcomes)
        stored = (await client.get("/simulator/records")).json()["count"]
        # Every answered or dropped save stored a record; no timed-out one did.
        assert stored == outcomes.count(200) + outcomes.count("dropped")
        r = await client.put("/simulator/faults", json={"rate_timeout": 1.5})
        assert r.status_code == 422
        assert (await client.get("/simulator/faults")).json()["rate_timeout"] == 0.5


def test_fault_rates_from_environment(monkeypatch):
    monkeypatch.setenv("KINERJA_SIM_RATE_TIMEOUT", "0.05")
    monkeypatch.setenv("KINERJA_SIM_RATE_DROP_AFTER_SAVE", "0.1")
    app = create_app(SimulatorSettings())
    faults = app.state.sim.faults
    assert faults.rate_timeout == 0.05 and faults.rate_drop_after_save == 0.1
    monkeypatch.setenv("KINERJA_SIM_RATE_TIMEOUT", "2")
    with pytest.raises(ValueError):
        SimulatorSettings()


async def test_plant_and_lose_records(sim):
    planted = (await sim.post("/simulator/records", json=payload())).json()
    assert (await sim.get("/simulator/records")).json()["count"] == 1
    r = await sim.delete(f"/simulator/records/{planted['id']}")
    assert r.status_code == 200 and (await sim.get("/simulator/records")).json()["count"] == 0
    r = await sim.delete("/simulator/records/tidak-ada")
    assert r.status_code == 404 and r.json()["success"] is False


async def test_data_rejections_about_the_assessor_and_the_unit(sim):
    headers = await tokens(sim)
    await sim.put("/simulator/faults", json={
        "unknown_nips": ["197204151998022001"], "unknown_units": ["SD Negeri Satu"], "require_golongan": True})
    r = await sim.post("/kinerjaperiodik/save", json=payload(), headers=headers)  # the assessor's NIP
    assert r.status_code == 400 and r.json()["message"].startswith("NIP penilai")
    other = {"penilaiNipNrp": "196905121994032004"}
    r = await sim.post("/kinerjaperiodik/save", json=payload(penilaiUnorNama="SD Negeri Satu", **other), headers=headers)
    assert r.status_code == 400 and "Unor penilai 'SD Negeri Satu' belum padan" in r.json()["message"]
    r = await sim.post("/kinerjaperiodik/save", json=payload(penilaiGolongan="", **other), headers=headers)
    assert r.status_code == 400 and r.json()["message"].startswith("Golongan penilai")
    # A NON ASN assessor has no golongan: accepted.
    r = await sim.post("/kinerjaperiodik/save", json=payload(penilaiGolongan="", statusPenilai="NON ASN", **other),
                       headers=headers)
    assert r.status_code == 200
    assert (await sim.get("/simulator/stats")).json()["count"] == 1


async def test_stats_count_without_the_records_and_reads_by_nip(sim):
    headers = await tokens(sim)
    for nip in (NIP, NIP, "197204151998022001"):
        assert (await sim.post("/kinerjaperiodik/save", json=payload(pnsDinilaiId=nip), headers=headers)).status_code == 200
    stats = (await sim.get("/simulator/stats")).json()
    assert stats["count"] == 3 and stats["periods"] == 2 and stats["duplicates"] == {f"{NIP}/2026/1-6": 2}
    assert "records" not in stats and stats["calls"]["save"] == 3
    rows = (await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)).json()["data"]
    assert len(rows) == 2 and {r["pnsDinilaiId"] for r in rows} == {NIP}
    await sim.delete(f"/simulator/records/{rows[0]['id']}")
    assert (await sim.get("/simulator/stats")).json()["duplicates"] == {}
    assert len((await sim.get(f"/pns/rw-kinerjaperiodik/{NIP}", headers=headers)).json()["data"]) == 1


async def test_hang_after_save_stores_then_answers_late(served):
    async with httpx.AsyncClient(base_url=served, timeout=0.5) as client:
        headers = await tokens(client)
        await client.put("/simulator/faults", json={"next_hang_after_save": 1, "hang_after_save_s": 2})
        with pytest.raises(httpx.TimeoutException):
            await client.post("/kinerjaperiodik/save", json=payload(), headers=headers)
        stats = (await client.get("/simulator/stats")).json()
        assert stats["count"] == 1 and stats["calls"]["hung_after_save"] == 1


# ---------------------------------------------------------------- agreed plans (SKP) and periodic reviews


def skp_payload(**changes) -> dict:
    body = {
        "pnsDinilaiId": NIP, "pnsDinilaiNama": "Dewi Lestari, S.Pd.", "pnsDinilaiJabatanNama": "Guru Kelas",
        "pnsDinilaiGolongan": "III/c", "pnsDinilaiUnorNama": "SD Negeri 1 Cibinong", "jenisSkp": "GURU",
        "koefisienId": "2", "tahun": 2026, "bulanMulaiPenilaian": 1, "bulanSelesaiPenilaian": 6,
        "penilaiNama": "Dra. Sri Wahyuni", "penilaiNipNrp": "197204151998022001", "penilaiGolongan": "IV/a",
        "penilaiJabatanNama": "Kepala Sekolah", "penilaiUnorNama": "SD Negeri 1 Cibinong", "statusPenilai": "ASN",
        "indikatorRaporPendidikan": ["A.1"],
        "rencanaHasilKerja": [{"jenis": "praktik_kinerja", "kode": "A.1", "uraian": "Literasi", "poin": 0,
                               "perilakuFokus": ["aktivasi kognitif"]}],
        "targetBulanan": [{"bulan": "2026-02", "uraian": "Modul ajar literasi", "kodeRencana": "A.1"}],
        "poinPengembanganKompetensi": 32, "revisi": 1, "tanggalDisepakati": "2026-01-20",
    }
    body.update(changes)
    return body


def review_payload(**changes) -> dict:
    body = {
        "pnsDinilaiId": NIP, "tahun": 2025, "bulanMulaiPenilaian": 3, "bulanSelesaiPenilaian": 3, "periodikId": 1,
        "hasilKinerjaNilai": 2, "umpanBalik": "Sesuai rencana", "tanggalEvaluasi": "2025-03-28",
        "penilaiNama": "Dra. Sri Wahyuni", "penilaiNipNrp": "197204151998022001", "penilaiGolongan": "IV/a",
        "penilaiJabatanNama": "Kepala Sekolah", "penilaiUnorNama": "SD Negeri 1 Cibinong", "statusPenilai": "ASN",
    }
    body.update(changes)
    return body


async def test_an_skp_is_saved_read_and_updated_in_place(sim):
    headers = await tokens(sim)
    r = await sim.post("/rencanaskp/save", json=skp_payload(), headers=headers)
    assert r.status_code == 200 and r.json()["success"] is True
    record_id = r.json()["mapData"]["id"]
    r = await sim.post("/rencanaskp/save", json=skp_payload(id=record_id, revisi=2), headers=headers)
    assert r.status_code == 200 and r.json()["mapData"]["id"] == record_id
    [stored] = (await sim.get(f"/pns/rw-rencanaskp/{NIP}", headers=headers)).json()["data"]
    assert stored["revisi"] == 2 and stored["updatedAt"] >= stored["createdAt"]
    view = (await sim.get("/simulator/skp")).json()
    assert view["count_by_nip_period"] == {f"{NIP}/2026/1-6": 1} and view["duplicates"] == {}
    assert view["calls"]["save_skp"] == 2 and view["calls"]["read_skp"] == 1
    # Kept apart from the results: the results' view and counters are unchanged.
    assert (await sim.get("/simulator/records")).json()["count"] == 0
    assert (await sim.get("/simulator/stats")).json()["skp"] == {"count": 1, "duplicates": {}}
    # Two saves without the id are two records: the duplicate the sync must never cause.
    await sim.post("/rencanaskp/save", json=skp_payload(), headers=headers)
    assert (await sim.get("/simulator/skp")).json()["duplicates"] == {f"{NIP}/2026/1-6": 2}


async def test_skp_rejections_and_faults(sim):
    headers = await tokens(sim)
    assert (await sim.post("/rencanaskp/save", json=skp_payload(), headers={})).status_code == 401
    r = await sim.post("/rencanaskp/save", json=skp_payload(rencanaHasilKerja=[]), headers=headers)
    assert r.status_code == 400 and "rencanaHasilKerja" in r.json()["message"]
    r = await sim.post("/rencanaskp/save", json=skp_payload(pnsDinilaiId=UNKNOWN), headers=headers)
    assert (r.status_code, r.json()["message"]) == (400, "NIP tidak ditemukan di SIASN")
    r = await sim.post("/rencanaskp/save", json=skp_payload(id="tidak-ada"), headers=headers)
    assert r.status_code == 400 and "tidak ditemukan" in r.json()["message"]
    await sim.put("/simulator/faults", json={"units_without_skp_organisasi": ["SD Negeri 1 Cibinong"]})
    r = await sim.post("/rencanaskp/save", json=skp_payload(), headers=headers)
    assert (r.status_code, r.json()["message"]) == (400, "Data SKP Organisasi belum dibuat oleh atasan")
    await sim.put("/simulator/faults", json={"units_without_skp_organisasi": [], "next_5xx_after_save": 1,
                                             "next_429": 1})
    r = await sim.post("/rencanaskp/save", json=skp_payload(), headers=headers)
    assert r.status_code == 429 and r.headers["Retry-After"]
    r = await sim.post("/rencanaskp/save", json=skp_payload(), headers=headers)
    assert r.status_code == 502  # stored, though the answer says otherwise
    assert (await sim.get("/simulator/skp")).json()["count"] == 1


async def test_periodic_reviews_monthly_and_quarterly(sim):
    headers = await tokens(sim)
    r = await sim.post("/evaluasiperiodik/save", json=review_payload(), headers=headers)
    assert r.status_code == 200
    quarterly = review_payload(bulanMulaiPenilaian=1, bulanSelesaiPenilaian=3, periodikId=2)
    assert (await sim.post("/evaluasiperiodik/save", json=quarterly, headers=headers)).status_code == 200
    for bad, message in [
        (review_payload(bulanSelesaiPenilaian=4), "bulanan"),
        (review_payload(bulanMulaiPenilaian=2, bulanSelesaiPenilaian=4, periodikId=2), "triwulan"),
        (review_payload(periodikId=3), "periodikId"),
        (review_payload(hasilKinerjaNilai=4), "hasilKinerjaNilai"),
    ]:
        r = await sim.post("/evaluasiperiodik/save", json=bad, headers=headers)
        assert r.status_code == 400 and message in r.json()["message"], r.text
    data = (await sim.get(f"/pns/rw-evaluasiperiodik/{NIP}", headers=headers)).json()["data"]
    assert sorted((d["bulanMulaiPenilaian"], d["bulanSelesaiPenilaian"]) for d in data) == [(1, 3), (3, 3)]
    view = (await sim.get("/simulator/evaluasi-periodik")).json()
    assert view["count_by_nip_period"] == {f"{NIP}/2025/3-3": 1, f"{NIP}/2025/1-3": 1}
    await sim.post("/simulator/reset")
    assert (await sim.get("/simulator/evaluasi-periodik")).json()["count"] == 0
