"""The e-Kinerja SIMULATOR: a stand-in for BKN's SIASN web service, for development and tests.

It speaks the SIASN-like shape described in the project's domain notes:

- ``POST /oauth2/token`` (client credentials) gives the API-manager token, ``POST /sso/token``
  (password grant) the SSO token; every data call needs both, as ``Authorization: Bearer <api>``
  and ``Auth: bearer <sso>``;
- ``POST /kinerjaperiodik/save`` stores a periodic result (or updates one when ``id`` is given);
- ``GET /pns/rw-kinerjaperiodik/{nip}`` lists a civil servant's periodic results;
- ``POST /rencanaskp/save`` / ``GET /pns/rw-rencanaskp/{nip}``: agreed plans (SKP), and
  ``POST /evaluasiperiodik/save`` / ``GET /pns/rw-evaluasiperiodik/{nip}``: periodic reviews. BKN
  documents no public endpoints for these; the shapes are this project's, in SIASN's style.

Faults are injectable (settings ``KINERJA_SIM_*`` or ``PUT /simulator/faults`` at runtime): 5xx,
429 with Retry-After, slow answers, 5xx *after* the record was stored (the ambiguous failure a
client must not turn into a duplicate), and NIPs SIASN does not know. Records and tokens live IN
MEMORY: a restart forgets them. The ``/simulator/*`` endpoints are the simulator's own admin API,
not part of the SIASN shape.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ekinerja_simulator.settings import SimulatorSettings

log = logging.getLogger("ekinerja_simulator")

TITLE = "e-Kinerja SIMULATOR (bukan layanan BKN yang asli / not the real BKN service)"
UNKNOWN_NIP_MESSAGE = "NIP tidak ditemukan di SIASN"
UNKNOWN_ASSESSOR_NIP_MESSAGE = "NIP penilai (penilaiNipNrp) tidak ditemukan di SIASN"
MISSING_GOLONGAN_MESSAGE = "Golongan penilai (penilaiGolongan) wajib diisi untuk penilai ASN"
NO_SKP_ORGANISASI_MESSAGE = "Data SKP Organisasi belum dibuat oleh atasan"
# This project's reference ids for the annual angka-kredit coefficient of each jenjang
# (Ahli Pertama 12.5, Ahli Muda 25, Ahli Madya 37.5, Ahli Utama 50).
KOEFISIEN_IDS = {"1", "2", "3", "4"}
# 1 bulanan, 2 triwulanan (SIASN); 3 semesteran, 4 tahunan (this project's assumption).
PERIODIK_IDS = {1, 2, 3, 4}


class Faults(BaseModel):
    """What the simulator does wrong on purpose. Rates are probabilities per save call; the
    ``next_*`` counters fail exactly that many coming save calls (deterministic tests)."""

    model_config = ConfigDict(extra="forbid")

    rate_5xx: float = Field(0.0, ge=0, le=1)
    rate_429: float = Field(0.0, ge=0, le=1)
    rate_5xx_after_save: float = Field(0.0, ge=0, le=1)
    retry_after_s: int = Field(1, ge=0)
    slow_ms: int = Field(0, ge=0)
    # A timeout: the call hangs ``timeout_hang_s`` before anything is stored, then 504.
    rate_timeout: float = Field(0.0, ge=0, le=1)
    timeout_hang_s: float = Field(30.0, ge=0)
    # The duplicate-maker: the record is stored, then the connection is dropped mid-answer.
    rate_drop_after_save: float = Field(0.0, ge=0, le=1)
    unknown_nips: list[str] = Field(default_factory=list)
    # Units (penilaiUnorNama) not in SIASN's reference list: "Unor ... belum padan".
    unknown_units: list[str] = Field(default_factory=list)
    # Refuse an ASN assessor without a golongan.
    require_golongan: bool = False
    # Units (pnsDinilaiUnorNama) whose SKP Organisasi the atasan has not made: an SKP of a
    # teacher there is refused ("Data SKP Organisasi belum dibuat oleh atasan").
    units_without_skp_organisasi: list[str] = Field(default_factory=list)
    next_5xx: int = Field(0, ge=0)
    next_429: int = Field(0, ge=0)
    next_5xx_after_save: int = Field(0, ge=0)
    next_timeout: int = Field(0, ge=0)
    next_drop_after_save: int = Field(0, ge=0)
    # Store the record, then hang this long before answering (a client killed mid-request).
    next_hang_after_save: int = Field(0, ge=0)
    hang_after_save_s: float = Field(30.0, ge=0)
    # BKN wholly down: its read endpoints answer 503 too (the rates above strike saves only).
    reads_down: bool = False


class FaultsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate_5xx: float | None = Field(None, ge=0, le=1)
    rate_429: float | None = Field(None, ge=0, le=1)
    rate_5xx_after_save: float | None = Field(None, ge=0, le=1)
    retry_after_s: int | None = Field(None, ge=0)
    slow_ms: int | None = Field(None, ge=0)
    rate_timeout: float | None = Field(None, ge=0, le=1)
    timeout_hang_s: float | None = Field(None, ge=0)
    rate_drop_after_save: float | None = Field(None, ge=0, le=1)
    unknown_nips: list[str] | None = None
    unknown_units: list[str] | None = None
    require_golongan: bool | None = None
    units_without_skp_organisasi: list[str] | None = None
    next_5xx: int | None = Field(None, ge=0)
    next_429: int | None = Field(None, ge=0)
    next_5xx_after_save: int | None = Field(None, ge=0)
    next_timeout: int | None = Field(None, ge=0)
    next_drop_after_save: int | None = Field(None, ge=0)
    next_hang_after_save: int | None = Field(None, ge=0)
    hang_after_save_s: float | None = Field(None, ge=0)
    reads_down: bool | None = None


class Penilai(BaseModel):
    """The assessor's fields, the same in every payload."""

    penilaiNama: str = Field(min_length=1)
    penilaiNipNrp: str = Field(min_length=1)
    penilaiGolongan: str = ""
    penilaiJabatanNama: str = ""
    penilaiUnorNama: str = ""
    statusPenilai: Literal["ASN", "NON ASN"]


class KinerjaPeriodik(Penilai):
    """The body of ``POST /kinerjaperiodik/save``."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    bulanMulaiPenilaian: int = Field(ge=1, le=12)
    bulanSelesaiPenilaian: int = Field(ge=1, le=12)
    tahunMulaiPenilaian: int = Field(ge=2000, le=2100)
    tahunSelesaiPenilaian: int = Field(ge=2000, le=2100)
    tahun: int = Field(ge=2000, le=2100)
    hasilKinerjaNilai: int = Field(ge=1, le=3)
    perilakuKerjaNilai: int = Field(ge=1, le=3)
    kuadranKinerjaNilai: int = Field(ge=1, le=5)
    koefisienId: str
    periodikId: int
    pnsDinilaiId: str = Field(min_length=18, max_length=18, pattern=r"^\d{18}$")


class RencanaHasilKerja(BaseModel):
    model_config = ConfigDict(extra="forbid")

    jenis: Literal["praktik_kinerja", "pengembangan_kompetensi", "tugas_tambahan"]
    kode: str = Field(min_length=1)
    uraian: str = Field(min_length=1)
    poin: int = Field(0, ge=0)
    perilakuFokus: list[str] = Field(default_factory=list)


class TargetBulanan(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bulan: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    uraian: str = Field(min_length=1)
    kodeRencana: str | None = None


class RencanaSkp(Penilai):
    """The body of ``POST /rencanaskp/save``: an agreed plan (SKP). This project's shape."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    pnsDinilaiId: str = Field(min_length=18, max_length=18, pattern=r"^\d{18}$")
    pnsDinilaiNama: str = Field(min_length=1)
    pnsDinilaiJabatanNama: str = Field(min_length=1)
    pnsDinilaiGolongan: str = Field(min_length=1)
    pnsDinilaiUnorNama: str = Field(min_length=1)
    jenisSkp: Literal["GURU", "KEPALA_SEKOLAH"]
    koefisienId: str
    tahun: int = Field(ge=2000, le=2100)
    bulanMulaiPenilaian: int = Field(ge=1, le=12)
    bulanSelesaiPenilaian: int = Field(ge=1, le=12)
    indikatorRaporPendidikan: list[str] = Field(default_factory=list)
    rencanaHasilKerja: list[RencanaHasilKerja] = Field(min_length=1)
    targetBulanan: list[TargetBulanan] = Field(default_factory=list)
    poinPengembanganKompetensi: int = Field(0, ge=0)
    revisi: int = Field(ge=0)
    tanggalDisepakati: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


class EvaluasiPeriodik(Penilai):
    """The body of ``POST /evaluasiperiodik/save``: a monthly (periodikId 1) or quarterly (2)
    review. This project's shape."""

    model_config = ConfigDict(extra="forbid")

    id: str | None = None
    pnsDinilaiId: str = Field(min_length=18, max_length=18, pattern=r"^\d{18}$")
    tahun: int = Field(ge=2000, le=2100)
    bulanMulaiPenilaian: int = Field(ge=1, le=12)
    bulanSelesaiPenilaian: int = Field(ge=1, le=12)
    periodikId: int
    hasilKinerjaNilai: int = Field(ge=1, le=3)
    umpanBalik: str = ""
    tanggalEvaluasi: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


class RecordStore:
    """Records of one kind, indexed by NIP and counted per NIP and period (the "exactly one"
    check: ``"<nip>/<tahun>/<bulanMulai>-<bulanSelesai>"`` -> how many)."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.by_nip: dict[str, dict[str, dict[str, Any]]] = {}
        self.per_period: Counter = Counter()

    def clear(self) -> None:
        self.records.clear()
        self.by_nip.clear()
        self.per_period.clear()

    def store(self, record: dict[str, Any]) -> None:
        self.forget(record["id"])
        self.records[record["id"]] = record
        self.by_nip.setdefault(record["pnsDinilaiId"], {})[record["id"]] = record
        self.per_period[self.period_key(record)] += 1

    @staticmethod
    def period_key(record: dict[str, Any]) -> str:
        return f"{record['pnsDinilaiId']}/{record['tahun']}/{record['bulanMulaiPenilaian']}-{record['bulanSelesaiPenilaian']}"

    def forget(self, record_id: str) -> dict[str, Any] | None:
        record = self.records.pop(record_id, None)
        if record is not None:
            self.by_nip.get(record["pnsDinilaiId"], {}).pop(record_id, None)
            key = self.period_key(record)
            self.per_period[key] -= 1
            if self.per_period[key] <= 0:
                del self.per_period[key]
        return record

    def view(self) -> dict[str, Any]:
        return {
            "records": list(self.records.values()),
            "count": len(self.records),
            "count_by_nip_period": dict(self.per_period),
            "duplicates": {k: n for k, n in self.per_period.items() if n > 1},
        }


@dataclass
class SimulatorState:
    settings: SimulatorSettings
    faults: Faults = field(default_factory=Faults)
    # Final results (insertion-ordered; by NIP so reads stay O(1) with tens of thousands of
    # records in benchmarks; counted per NIP and period: the "exactly one" check).
    results: RecordStore = field(default_factory=RecordStore)
    api_tokens: dict[str, float] = field(default_factory=dict)
    sso_tokens: dict[str, float] = field(default_factory=dict)
    calls: Counter = field(default_factory=Counter)
    rng: random.Random = field(default_factory=random.Random)
    # Agreed plans (SKP) and periodic reviews, each counted per NIP and period like the results.
    skp: RecordStore = field(default_factory=RecordStore)
    reviews: RecordStore = field(default_factory=RecordStore)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        s = self.settings
        self.faults = Faults(
            rate_5xx=s.rate_5xx, rate_429=s.rate_429, retry_after_s=s.retry_after_s,
            slow_ms=s.slow_ms, unknown_nips=sorted(s.unknown_nip_set()),
            unknown_units=s.unknown_unit_list(), require_golongan=s.require_golongan,
            rate_timeout=s.rate_timeout, timeout_hang_s=s.timeout_hang_s,
            rate_drop_after_save=s.rate_drop_after_save, rate_5xx_after_save=s.rate_5xx_after_save,
        )
        self.results.clear()
        self.api_tokens.clear()
        self.sso_tokens.clear()
        self.calls.clear()
        self.skp.clear()
        self.reviews.clear()
        self.rng = random.Random(s.seed)

    period_key = staticmethod(RecordStore.period_key)

    # The results' store under the names the endpoints and tests use.
    @property
    def records(self) -> dict[str, dict[str, Any]]:
        return self.results.records

    @property
    def by_nip(self) -> dict[str, dict[str, dict[str, Any]]]:
        return self.results.by_nip

    @property
    def per_period(self) -> Counter:
        return self.results.per_period

    def store(self, record: dict[str, Any]) -> None:
        self.results.store(record)

    def forget(self, record_id: str) -> dict[str, Any] | None:
        return self.results.forget(record_id)

    def issue(self, store: dict[str, float]) -> str:
        now = time.monotonic()
        for stale in [t for t, expiry in store.items() if expiry <= now]:  # forget expired ones
            del store[stale]
        token = secrets.token_urlsafe(24)
        store[token] = now + self.settings.token_ttl_s
        return token

    @staticmethod
    def valid(store: dict[str, float], token: str | None) -> bool:
        expiry = store.get(token or "")
        return expiry is not None and expiry > time.monotonic()

    def roll(self, counter: str, rate: float) -> bool:
        """Whether this call gets the fault: a pending ``next_*`` count, else the dice."""
        pending = getattr(self.faults, counter)
        if pending > 0:
            setattr(self.faults, counter, pending - 1)
            return True
        return rate > 0 and self.rng.random() < rate


def fail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"success": False, "message": message}, status_code=status, headers=headers)


class ConnectionDropped(Exception):
    """Raised after the headers went out: the server closes the connection mid-answer."""


def dropped_connection() -> StreamingResponse:
    # The status line and headers are sent, then the body fails: uvicorn closes the socket and
    # the client sees a broken answer (httpx RemoteProtocolError), never the record's id.
    async def body():
        raise ConnectionDropped("simulated connection drop after the record was stored")
        yield b""  # pragma: no cover - makes this an async generator

    return StreamingResponse(body(), media_type="application/json")


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    settings = settings or SimulatorSettings()
    state = SimulatorState(settings)
    app = FastAPI(
        title=TITLE,
        description=__doc__,
        version="0.1.0",
    )
    app.state.sim = state

    def check_tokens(request: Request) -> JSONResponse | None:
        scheme, _, api_token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not state.valid(state.api_tokens, api_token):
            return fail(401, "Token API Manager tidak ada, tidak valid atau kedaluwarsa")
        scheme, _, sso_token = request.headers.get("Auth", "").partition(" ")
        if scheme.lower() != "bearer" or not state.valid(state.sso_tokens, sso_token):
            return fail(401, "Token SSO tidak ada, tidak valid atau kedaluwarsa")
        return None

    async def slow() -> None:
        if state.faults.slow_ms:
            await asyncio.sleep(state.faults.slow_ms / 1000)

    # ------------------------------------------------------------ the SIASN-like shape

    @app.post("/oauth2/token", tags=["SIASN-like"], summary="API-manager token (client credentials)")
    async def api_manager_token(
        grant_type: str = Form(""), client_id: str = Form(""), client_secret: str = Form("")
    ):
        state.calls["oauth2_token"] += 1
        if grant_type != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if client_id != settings.client_id or client_secret != settings.client_secret:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        return {
            "access_token": state.issue(state.api_tokens),
            "token_type": "Bearer",
            "expires_in": settings.token_ttl_s,
        }

    @app.post("/sso/token", tags=["SIASN-like"], summary="SSO token (password grant)")
    async def sso_token(
        grant_type: str = Form(""), username: str = Form(""), password: str = Form("")
    ):
        state.calls["sso_token"] += 1
        if grant_type != "password":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if username != settings.username or password != settings.password:
            return JSONResponse({"error": "invalid_grant"}, status_code=401)
        return {"access_token": state.issue(state.sso_tokens), "expires_in": settings.token_ttl_s}

    async def faults_before_save(request: Request) -> JSONResponse | None:
        """Tokens, then the faults that strike before anything is stored (every save endpoint)."""
        if (denied := check_tokens(request)) is not None:
            return denied
        await slow()
        if state.roll("next_429", state.faults.rate_429):
            return fail(
                429, "Terlalu banyak permintaan, coba lagi nanti",
                headers={"Retry-After": str(state.faults.retry_after_s)},
            )
        if state.roll("next_5xx", state.faults.rate_5xx):
            return fail(503, "Layanan sedang tidak tersedia")
        if state.roll("next_timeout", state.faults.rate_timeout):
            state.calls["timeout"] += 1
            # Hang past any sane client timeout; nothing is stored.
            await asyncio.sleep(state.faults.timeout_hang_s)
            return fail(504, "Gateway Timeout")
        return None

    async def faults_after_save() -> JSONResponse | StreamingResponse | None:
        """The faults that strike after the record was stored (every save endpoint)."""
        # The ambiguous failure: stored, but the client hears an error.
        if state.roll("next_5xx_after_save", state.faults.rate_5xx_after_save):
            return fail(502, "Bad Gateway")
        if state.roll("next_hang_after_save", 0.0):
            state.calls["hung_after_save"] += 1
            await asyncio.sleep(state.faults.hang_after_save_s)
        if state.roll("next_drop_after_save", state.faults.rate_drop_after_save):
            state.calls["dropped_after_save"] += 1
            return dropped_connection()
        return None

    async def parse(model: type[BaseModel], request: Request) -> BaseModel | JSONResponse:
        try:
            return model.model_validate(await request.json())
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            return fail(400, f"Data tidak valid: {where}: {first['msg']}")
        except ValueError:
            return fail(400, "Data tidak valid: body harus JSON")

    def refused_penilai(nip: str, body: Penilai | KinerjaPeriodik) -> JSONResponse | None:
        """The rejections triggered by data that every payload shares."""
        if nip in state.faults.unknown_nips:
            return fail(400, UNKNOWN_NIP_MESSAGE)
        if body.penilaiNipNrp in state.faults.unknown_nips:
            return fail(400, UNKNOWN_ASSESSOR_NIP_MESSAGE)
        if body.penilaiUnorNama in state.faults.unknown_units:
            return fail(400, f"Unor penilai '{body.penilaiUnorNama}' belum padan dengan referensi unit organisasi SIASN")
        if state.faults.require_golongan and body.statusPenilai == "ASN" and not body.penilaiGolongan.strip():
            return fail(400, MISSING_GOLONGAN_MESSAGE)
        return None

    def stored_in(store: RecordStore, body: BaseModel, what: str) -> dict[str, Any] | JSONResponse:
        """The record to store: a new one, or an update of ``id`` (of the same NIP)."""
        record = body.model_dump()
        if record.get("id") is not None:
            existing = store.records.get(record["id"])
            if existing is None or existing["pnsDinilaiId"] != record["pnsDinilaiId"]:
                return fail(400, f"Data {what} dengan id {record['id']} tidak ditemukan")
            record["createdAt"] = existing["createdAt"]
        else:
            record["id"] = str(uuid.uuid4())
            record["createdAt"] = time.time()
        record["updatedAt"] = time.time()
        store.store(record)
        return record

    @app.post("/kinerjaperiodik/save", tags=["SIASN-like"], summary="Save a periodic result")
    async def save(request: Request):
        state.calls["save"] += 1
        if (refused := await faults_before_save(request)) is not None:
            return refused
        body = await parse(KinerjaPeriodik, request)
        if isinstance(body, JSONResponse):
            return body
        if (refused := refused_penilai(body.pnsDinilaiId, body)) is not None:
            return refused
        if body.koefisienId not in KOEFISIEN_IDS:
            return fail(400, f"koefisienId {body.koefisienId!r} tidak ada di referensi koefisien")
        if body.periodikId not in PERIODIK_IDS:
            return fail(400, f"periodikId {body.periodikId} tidak dikenal")
        if (body.tahunMulaiPenilaian, body.bulanMulaiPenilaian) > (
            body.tahunSelesaiPenilaian, body.bulanSelesaiPenilaian
        ):
            return fail(400, "Bulan mulai penilaian setelah bulan selesai penilaian")
        record = body.model_dump()
        if body.id is not None:
            existing = state.records.get(body.id)
            if existing is None or existing["pnsDinilaiId"] != body.pnsDinilaiId:
                return fail(400, f"Data kinerja periodik dengan id {body.id} tidak ditemukan")
            record["createdAt"] = existing["createdAt"]
        else:
            record["id"] = str(uuid.uuid4())
            record["createdAt"] = time.time()
        record["updatedAt"] = time.time()
        state.store(record)
        log.info("SIMULATOR kinerjaperiodik saved id=%s nip=%s", record["id"], body.pnsDinilaiId)
        if (broken := await faults_after_save()) is not None:
            return broken
        return {"success": True, "message": "Data berhasil disimpan", "mapData": {"id": record["id"]}}

    @app.get("/pns/rw-kinerjaperiodik/{nip}", tags=["SIASN-like"], summary="Periodic results of one NIP")
    async def read(nip: str, request: Request):
        if (refused := await faults_before_read("read", nip, request)) is not None:
            return refused
        return {"success": True, "data": list(state.by_nip.get(nip, {}).values())}

    @app.post("/rencanaskp/save", tags=["SIASN-like"], summary="Save an agreed plan (SKP); id updates one")
    async def save_skp(request: Request):
        state.calls["save_skp"] += 1
        if (refused := await faults_before_save(request)) is not None:
            return refused
        body = await parse(RencanaSkp, request)
        if isinstance(body, JSONResponse):
            return body
        if (refused := refused_penilai(body.pnsDinilaiId, body)) is not None:
            return refused
        if body.pnsDinilaiUnorNama in state.faults.unknown_units:
            return fail(400, f"Unor '{body.pnsDinilaiUnorNama}' belum padan dengan referensi unit organisasi SIASN")
        if body.pnsDinilaiUnorNama in state.faults.units_without_skp_organisasi:
            return fail(400, NO_SKP_ORGANISASI_MESSAGE)
        if body.koefisienId not in KOEFISIEN_IDS:
            return fail(400, f"koefisienId {body.koefisienId!r} tidak ada di referensi koefisien")
        if body.bulanMulaiPenilaian > body.bulanSelesaiPenilaian:
            return fail(400, "Bulan mulai penilaian setelah bulan selesai penilaian")
        record = stored_in(state.skp, body, "SKP")
        if isinstance(record, JSONResponse):
            return record
        log.info("SIMULATOR rencanaskp saved id=%s nip=%s revisi=%s", record["id"], body.pnsDinilaiId, body.revisi)
        if (broken := await faults_after_save()) is not None:
            return broken
        return {"success": True, "message": "Data SKP berhasil disimpan", "mapData": {"id": record["id"]}}

    @app.get("/pns/rw-rencanaskp/{nip}", tags=["SIASN-like"], summary="Agreed plans (SKP) of one NIP")
    async def read_skp(nip: str, request: Request):
        return await read_of(state.skp, "read_skp", nip, request)

    @app.post("/evaluasiperiodik/save", tags=["SIASN-like"],
              summary="Save a periodic review (monthly or quarterly); id updates one")
    async def save_review(request: Request):
        state.calls["save_evaluasi"] += 1
        if (refused := await faults_before_save(request)) is not None:
            return refused
        body = await parse(EvaluasiPeriodik, request)
        if isinstance(body, JSONResponse):
            return body
        if (refused := refused_penilai(body.pnsDinilaiId, body)) is not None:
            return refused
        months = body.bulanSelesaiPenilaian - body.bulanMulaiPenilaian + 1
        if body.periodikId not in (1, 2):
            return fail(400, f"periodikId {body.periodikId} tidak dikenal untuk evaluasi periodik")
        if body.periodikId == 1 and months != 1:
            return fail(400, "periodikId 1 (bulanan) harus satu bulan")
        if body.periodikId == 2 and (months != 3 or body.bulanMulaiPenilaian not in (1, 4, 7, 10)):
            return fail(400, "periodikId 2 (triwulanan) harus satu triwulan (Jan-Mar, Apr-Jun, Jul-Sep, Okt-Des)")
        record = stored_in(state.reviews, body, "evaluasi periodik")
        if isinstance(record, JSONResponse):
            return record
        log.info("SIMULATOR evaluasiperiodik saved id=%s nip=%s", record["id"], body.pnsDinilaiId)
        if (broken := await faults_after_save()) is not None:
            return broken
        return {"success": True, "message": "Data evaluasi periodik berhasil disimpan", "mapData": {"id": record["id"]}}

    @app.get("/pns/rw-evaluasiperiodik/{nip}", tags=["SIASN-like"], summary="Periodic reviews of one NIP")
    async def read_reviews(nip: str, request: Request):
        return await read_of(state.reviews, "read_evaluasi", nip, request)

    async def read_of(store: RecordStore, call: str, nip: str, request: Request):
        if (refused := await faults_before_read(call, nip, request)) is not None:
            return refused
        return {"success": True, "data": list(store.by_nip.get(nip, {}).values())}

    async def faults_before_read(call: str, nip: str, request: Request) -> JSONResponse | None:
        """Tokens, then the faults of every read endpoint."""
        state.calls[call] += 1
        if (denied := check_tokens(request)) is not None:
            return denied
        await slow()
        if state.faults.reads_down:
            return fail(503, "Layanan sedang tidak tersedia")
        if nip in state.faults.unknown_nips:
            return fail(400, UNKNOWN_NIP_MESSAGE)
        return None

    # ------------------------------------------------------------ the simulator's own admin API

    @app.get("/simulator/records", tags=["simulator admin"])
    async def records():
        rows = list(state.records.values())
        by_period = Counter(state.period_key(r) for r in rows)
        return {
            "records": rows,
            "count": len(rows),
            "count_by_nip_period": dict(by_period),
            # Any key here is a result stored twice: what the sync must never cause.
            "duplicates": {k: n for k, n in by_period.items() if n > 1},
            "calls": dict(state.calls),
        }

    @app.get("/simulator/stats", tags=["simulator admin"], summary="Counts only (cheap to poll with many records)")
    async def stats():
        return {
            "count": len(state.records),
            "periods": len(state.per_period),
            "duplicates": {k: n for k, n in state.per_period.items() if n > 1},
            "calls": dict(state.calls),
            "skp": {"count": len(state.skp.records),
                    "duplicates": {k: n for k, n in state.skp.per_period.items() if n > 1}},
            "evaluasi_periodik": {"count": len(state.reviews.records),
                                  "duplicates": {k: n for k, n in state.reviews.per_period.items() if n > 1}},
        }

    @app.post("/simulator/records", tags=["simulator admin"], summary="Plant a record (e.g. one BKN holds but we never sent)")
    async def plant_record(body: KinerjaPeriodik):
        record = body.model_dump()
        record["id"] = body.id or str(uuid.uuid4())
        record["createdAt"] = record["updatedAt"] = time.time()
        state.store(record)
        return record

    @app.delete("/simulator/records/{record_id}", tags=["simulator admin"], summary="Lose a record (as if BKN dropped it)")
    async def lose_record(record_id: str):
        if state.forget(record_id) is None:
            return fail(404, f"Data kinerja periodik dengan id {record_id} tidak ditemukan")
        return {"deleted": record_id}

    @app.get("/simulator/skp", tags=["simulator admin"], summary="Stored agreed plans (SKP), counted per NIP and period")
    async def skp_records():
        return {**state.skp.view(), "calls": dict(state.calls)}

    @app.post("/simulator/skp", tags=["simulator admin"], summary="Plant an SKP (e.g. one BKN holds but we never sent)")
    async def plant_skp(body: RencanaSkp):
        record = body.model_dump()
        record["id"] = body.id or str(uuid.uuid4())
        record["createdAt"] = record["updatedAt"] = time.time()
        state.skp.store(record)
        return record

    @app.delete("/simulator/skp/{record_id}", tags=["simulator admin"], summary="Lose an SKP (as if BKN dropped it)")
    async def lose_skp(record_id: str):
        if state.skp.forget(record_id) is None:
            return fail(404, f"Data SKP dengan id {record_id} tidak ditemukan")
        return {"deleted": record_id}

    @app.get("/simulator/evaluasi-periodik", tags=["simulator admin"],
             summary="Stored periodic reviews, counted per NIP and months")
    async def review_records():
        return {**state.reviews.view(), "calls": dict(state.calls)}

    @app.get("/simulator/faults", tags=["simulator admin"])
    async def get_faults():
        return state.faults.model_dump()

    @app.put("/simulator/faults", tags=["simulator admin"], summary="Change some faults (partial)")
    async def put_faults(update: FaultsUpdate):
        changes = update.model_dump(exclude_none=True)
        state.faults = state.faults.model_copy(update=changes)
        log.info("SIMULATOR faults changed: %s", changes)
        return state.faults.model_dump()

    @app.post("/simulator/reset", tags=["simulator admin"], summary="Forget records, tokens, faults")
    async def reset():
        state.reset()
        return {"reset": True}

    @app.post("/simulator/tokens/revoke", tags=["simulator admin"], summary="Expire every token now")
    async def revoke_tokens():
        n = len(state.api_tokens) + len(state.sso_tokens)
        state.api_tokens.clear()
        state.sso_tokens.clear()
        return {"revoked": n}

    return app


def main() -> None:
    settings = SimulatorSettings()
    logging.basicConfig(level="INFO", format="%(asctime)s [%(levelname)s] e-Kinerja SIMULATOR: %(message)s")
    log.warning(
        "this is the e-Kinerja SIMULATOR, not BKN: records are kept in memory only (http://%s:%s)",
        settings.http_host, settings.http_port,
    )
    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port, access_log=False,
                server_header=False)


if __name__ == "__main__":
    main()
