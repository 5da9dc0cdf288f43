"""Resumable uploads: a session, then parts in order (each an S3 multipart part, each checked
against its SHA-256), the server's view at any time, completion (whole-file SHA-256 from the
hash state carried from part to part, the content checked on the stored object by ranged
reads), and a sweeper that removes what was abandoned. Or, mode "presigned": the client PUTs
the file straight to storage under a generated staging key and the service confirms it.

Bad input leaves nothing behind: a refused start stores nothing; a part refused for its
content, a file refused at completion, abort and expiry remove the S3 upload or object and
the session's rows."""

from __future__ import annotations

import asyncio
import hashlib
import io
import re
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import delete, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from kinerja_shared import access
from kinerja_shared.access_rules import evidence as actions
from kinerja_shared.errors import AppError
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWork, UnitOfWorkFactory

from kinerja_evidence.adapters import sha256state
from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.adapters.tables import Evidence, UploadOwner, UploadPart, UploadSession
from kinerja_evidence.domain.content import (
    DOCX,
    HEAD_BYTES,
    PPTX,
    XLSX,
    clean_file_name,
    detect_content_type,
    inspect_content,
)
from kinerja_evidence.domain.model import (
    Caller,
    ContentMismatch,
    EmptyFile,
    FileChecksumMismatch,
    FileTooLarge,
    PartChecksumMismatch,
    PartOutOfOrder,
    PartSizeWrong,
    TooManyOpenUploads,
    UnsupportedContent,
    UploadIncomplete,
    UploadNotFound,
    UploadNotOpen,
    UploadOfSomeoneElse,
    invalid_input,
    as_utc,
    expected_part_size,
    parts_for,
    today_in_jakarta,
)
from kinerja_evidence.service_layer import pending
from kinerja_evidence.service_layer.recording import (
    EvidenceFacts,
    check_target,
    object_key,
    raise_for_inspection,
    record_evidence,
)

log = get_logger(__name__)

PARTS = "parts"
PRESIGNED = "presigned"
OPEN = "open"
COMPLETED = "completed"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
S3_MIN_PART = 5 * 1024 * 1024
ZIP_MAGIC = b"PK\x03\x04"
OOXML_TYPES = (DOCX, XLSX, PPTX)


MAX_PARTS_AHEAD = 2
# The whole-file hash runs while the session row is locked: its own threads, never queued
# behind slow storage calls (OpenSSL releases the GIL while hashing).
_HASHING = ThreadPoolExecutor(2, thread_name_prefix="sha256")


class PartsInFlight:
    """Which parts this process is receiving right now, so that a client may send the next
    part on a second connection while the previous one is still on its way to S3 (the two
    transfers overlap instead of taking turns). A part is accepted ahead only when every part
    before it is received or in flight here, at most ``MAX_PARTS_AHEAD`` ahead; it is
    recorded only after its predecessor (the database check in :func:`_record_part` decides;
    this only decides whether waiting can help)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}
        self.recorded: set[tuple[str, int]] = set()

    def begin(self, upload_id: str, n: int) -> None:
        self.counts[(upload_id, n)] = self.counts.get((upload_id, n), 0) + 1

    def end(self, upload_id: str, n: int) -> None:
        left = self.counts.get((upload_id, n), 1) - 1
        if left:
            self.counts[(upload_id, n)] = left
        else:
            self.counts.pop((upload_id, n), None)

    def in_flight(self, upload_id: str, n: int) -> bool:
        return self.counts.get((upload_id, n), 0) > 0

    def mark_recorded(self, upload_id: str, n: int) -> None:
        self.recorded.add((upload_id, n))
        self.recorded.discard((upload_id, n - 1))

    async def wait_for_predecessor(self, upload_id: str, n: int, timeout_s: float = 300.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while n > 1 and (upload_id, n - 1) not in self.recorded:
            if not self.in_flight(upload_id, n - 1) or loop.time() > deadline:
                return  # the predecessor failed here: the database check refuses this part
            await asyncio.sleep(0.005)


@dataclass(frozen=True)
class UploadConfig:
    part_size: int
    expiry_s: int
    presign_put_ttl_s: int
    type_limits: dict[str, int]
    # Today in Jakarta by the service's clock (stage windows are Jakarta dates).
    today: date | None = None
    max_open_per_user: int = 20


@dataclass(frozen=True)
class StartRequest:
    plan_id: str
    item_id: str | None
    file_name: str
    size_bytes: int
    content_type: str
    sha256: str | None
    mode: str = PARTS


def _now() -> datetime:
    return datetime.now(timezone.utc)


STAGING_PREFIX = "staging/"


def staging_key(upload_id: str) -> str:
    return f"{STAGING_PREFIX}{upload_id}"


async def _open_sessions(uow: UnitOfWork, owner_nip: str) -> int:
    """Sessions that still hold something (an S3 multipart upload, a staging key); one past
    its expiry is gone for the client already and only waits for the sweep."""
    return (await uow.session.exec(select(func.count()).select_from(UploadSession).where(
        UploadSession.owner_nip == owner_nip, UploadSession.status == OPEN,
        UploadSession.expires_at > _now()))).one()


async def _take_open_slot(uow: UnitOfWork, owner_nip: str, max_open: int) -> None:
    """The first statement of the transaction that adds the session: an upsert of the owner's
    row, which locks it (PostgreSQL: the row until commit; SQLite: the database's write lock,
    taken by the transaction's first statement, so the count below reads the latest state).
    Two starts of one teacher take turns here, so they cannot both see a free slot."""
    dialect = uow.session.bind.dialect.name  # type: ignore[union-attr]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(UploadOwner).values(owner_nip=owner_nip, last_started_at=_now())
    await uow.session.exec(statement.on_conflict_do_update(  # type: ignore[call-overload]
        index_elements=["owner_nip"], set_={"last_started_at": statement.excluded.last_started_at}))
    open_now = await _open_sessions(uow, owner_nip)
    if open_now >= max_open:
        raise TooManyOpenUploads(max_open, open_now)


async def start_upload(
    uow_factory: UnitOfWorkFactory, storage: ObjectStorage, caller: Caller,
    request: StartRequest, config: UploadConfig,
) -> tuple[UploadSession, str | None]:
    """Returns the session and, in presigned mode, the URL to PUT the file to."""
    target = await check_target(uow_factory, caller, request.plan_id, request.item_id,
                                type_limits=config.type_limits, today=config.today)
    declared = request.content_type.split(";")[0].strip().lower()
    if declared not in target.policy.allowed:
        raise UnsupportedContent(f"{declared} (dinyatakan)", target.policy.allowed)
    if request.size_bytes <= 0:
        raise EmptyFile()
    limit = target.policy.limit_for(declared) or 0
    if request.size_bytes > limit:
        raise FileTooLarge(limit, declared)
    sha = request.sha256.lower() if request.sha256 else None
    if sha is not None and not _HEX64.match(sha):
        raise invalid_input("harus 64 digit heksadesimal", "sha256", "sha256 must be 64 hex digits.")

    # Refused before anything is made at the store; decided again, under the lock, below.
    async with uow_factory() as uow:
        open_now = await _open_sessions(uow, caller.nip or "")
    if open_now >= config.max_open_per_user:
        raise TooManyOpenUploads(config.max_open_per_user, open_now)

    upload_id = str(uuid.uuid4())
    evidence_id = str(uuid.uuid4())
    final_key = object_key(target.plan.school_npsn, target.plan.teacher_nip, evidence_id)
    part_size = max(config.part_size, S3_MIN_PART)
    session = UploadSession(
        upload_id=upload_id, owner_nip=caller.nip or "", plan_id=request.plan_id,
        item_id=request.item_id, mode=request.mode, file_name=clean_file_name(request.file_name),
        declared_type=declared, declared_sha256=sha, size_bytes=request.size_bytes,
        part_size=part_size if request.mode == PARTS else request.size_bytes,
        parts_total=parts_for(request.size_bytes, part_size) if request.mode == PARTS else 1,
        evidence_id=evidence_id,
        object_key=final_key,
        hash_state=sha256state.ResumableSha256().state() if sha256state.AVAILABLE else None,
        expires_at=_now() + timedelta(seconds=config.expiry_s),
        started_on=config.today or today_in_jakarta(),
    )
    url = None
    started = False  # the S3 multipart upload is known to exist (or a start attempt failed)
    if request.mode == PARTS:
        # Durable before the multipart upload exists: a process killed before the session row
        # commits leaves this record, and the sweep aborts the upload (service_layer/pending.py).
        await pending.note(uow_factory, final_key, pending.PARTS)
    try:
        if request.mode == PARTS:
            started = True
            session.s3_upload_id = await storage.start_multipart(final_key, declared)
        else:
            url = await storage.presigned_put(staging_key(upload_id), ttl_s=config.presign_put_ttl_s)
        async with uow_factory() as uow:
            await _take_open_slot(uow, session.owner_nip, config.max_open_per_user)
            uow.session.add(session)
            if request.mode == PARTS:  # from now on the session row is the record
                await pending.settle(uow, final_key)
            await uow.commit()
            uow.session.expunge(session)
    except BaseException:
        if request.mode == PARTS:
            if session.s3_upload_id:
                await asyncio.shield(storage.abort_multipart(final_key, session.s3_upload_id))
            if session.s3_upload_id or not started:
                await asyncio.shield(pending.forget(uow_factory, final_key))
            # A start that failed may still have made an upload at the store: left to the sweep.
        raise
    log.info("upload.started", upload_id=upload_id, mode=request.mode, size_bytes=request.size_bytes)
    return session, url


async def _owned_session(uow: UnitOfWork, caller: Caller, upload_id: str, *, lock: bool = False) -> UploadSession:
    access.require_action(caller, actions.EVIDENCE_UPLOAD)
    session = await uow.session.get(UploadSession, upload_id, with_for_update=lock)
    if session is None:
        raise UploadNotFound()
    if not access.allows(caller, actions.EVIDENCE_UPLOAD, access.Resource(owner_nip=session.owner_nip)):
        raise UploadOfSomeoneElse()
    return session


async def _parts(uow: UnitOfWork, upload_id: str) -> list[UploadPart]:
    rows = await uow.session.exec(
        select(UploadPart).where(UploadPart.upload_id == upload_id).order_by(UploadPart.part_number)  # type: ignore[arg-type]
    )
    return list(rows.all())


def received_parts(session: UploadSession) -> int:
    """Parts arrive in order and all but the last are exactly ``part_size``: the count follows
    from the bytes received (no query of the part rows on the hot path)."""
    if session.received_bytes >= session.size_bytes:
        return session.parts_total if session.mode == PARTS else 0
    return session.received_bytes // session.part_size


@dataclass
class UploadState:
    session: UploadSession
    parts: list[UploadPart] | None = None  # loaded only where the etags are needed

    @property
    def received(self) -> int:
        return received_parts(self.session)

    @property
    def next_part(self) -> int | None:
        if self.session.status != OPEN or self.session.mode != PARTS:
            return None
        n = self.received + 1
        return n if n <= self.session.parts_total else None


async def upload_state(
    uow_factory: UnitOfWorkFactory, caller: Caller, upload_id: str, *, with_parts: bool = False
) -> UploadState:
    async with uow_factory() as uow:
        session = await _owned_session(uow, caller, upload_id)
        parts = await _parts(uow, upload_id) if with_parts else None
        uow.session.expunge_all()
        return UploadState(session, parts)


async def _stored_part(uow_factory: UnitOfWorkFactory, upload_id: str, n: int) -> UploadPart | None:
    async with uow_factory() as uow:
        part = (await uow.session.exec(
            select(UploadPart).where(UploadPart.upload_id == upload_id, UploadPart.part_number == n)
        )).first()
        uow.session.expunge_all()
        return part


async def put_part(
    uow_factory: UnitOfWorkFactory,
    storage: ObjectStorage,
    caller: Caller,
    upload_id: str,
    part_number: int,
    body: AsyncIterator[bytes],
    *,
    part_sha256: str | None,
    content_length: int | None,
    slots: asyncio.Semaphore,
    expiry_s: int,
    in_flight: PartsInFlight | None = None,
) -> UploadState:
    """Receive part ``part_number``: it must be the next one; a part already received sent
    again with the same checksum is answered as received (the client lost our answer)."""
    declared = (part_sha256 or "").strip().lower()
    if not _HEX64.match(declared):
        raise invalid_input("header X-Part-SHA256 wajib: SHA-256 bagian, 64 digit heksadesimal",
                            "X-Part-SHA256", "The X-Part-SHA256 header (hex SHA-256 of the part) is required.")
    state = await upload_state(uow_factory, caller, upload_id)
    session = state.session
    if session.status != OPEN or session.mode != PARTS:
        raise UploadNotOpen(session.status)
    if as_utc(session.expires_at) < _now():
        raise UploadNotFound()
    expected = state.received + 1
    if part_number < expected:
        stored = await _stored_part(uow_factory, upload_id, part_number) if part_number >= 1 else None
        if stored is not None and stored.sha256 == declared:
            return state  # already here: idempotent
        raise PartOutOfOrder(expected, part_number)
    in_flight = in_flight or PartsInFlight()
    if part_number > session.parts_total or (
        part_number != expected
        and (part_number - expected > MAX_PARTS_AHEAD
             or not all(in_flight.in_flight(upload_id, k) for k in range(expected, part_number)))
    ):
        raise PartOutOfOrder(min(expected, session.parts_total), part_number)
    size = expected_part_size(session.size_bytes, session.part_size, part_number)
    if content_length is not None and content_length != size:
        raise PartSizeWrong(size, content_length)

    in_flight.begin(upload_id, part_number)
    try:
        async with slots:  # bounds the part buffers held in memory at once
            data, computed = await _receive(body, size)
            if computed != declared:
                raise PartChecksumMismatch(declared, computed)
            if part_number == 1:
                await _check_head(uow_factory, storage, session, bytes(data[:HEAD_BYTES]))
            etag = await storage.put_part(
                session.object_key, session.s3_upload_id or "", part_number, data, sha256=computed
            )
        # The whole-file hash takes the parts in order: wait for the one before (if it is
        # still arriving on another connection) before recording this one.
        await in_flight.wait_for_predecessor(upload_id, part_number)
        state = await _record_part(uow_factory, caller, upload_id, part_number, data, computed, etag, expiry_s)
        in_flight.mark_recorded(upload_id, part_number)
        return state
    finally:
        in_flight.end(upload_id, part_number)


async def _receive(body: AsyncIterator[bytes], size: int) -> tuple[bytearray, str]:
    """The part's bytes and their SHA-256, hashed chunk by chunk as they arrive (kept as the
    one buffer they were read into: the SDK and the hash take it without a copy)."""
    # Allocated once at the part's exact size (known in advance): no regrowth, no copies.
    data, digest, filled = bytearray(size), hashlib.sha256(), 0
    with memoryview(data) as view:
        async for chunk in body:
            end = filled + len(chunk)
            if end > size:
                raise PartSizeWrong(size, end)  # stop reading: no more than one part held
            view[filled:end] = chunk
            digest.update(chunk)
            filled = end
    if filled != size:
        raise PartSizeWrong(size, filled)
    return data, digest.hexdigest()


async def _check_head(uow_factory, storage: ObjectStorage, session: UploadSession, head: bytes) -> None:
    """The first part shows what the file is: a wrong type ends the whole upload now, before
    the rest travels over a poor connection."""
    import io

    if head.startswith(ZIP_MAGIC) and session.declared_type in OOXML_TYPES:
        return  # a ZIP's directory is at its end: judged whole at completion
    detection = detect_content_type(io.BytesIO(head))
    if detection.content_type == session.declared_type:
        return
    await discard_session(uow_factory, storage, session)
    if not detection.allowed:
        raise UnsupportedContent(detection.detected, (session.declared_type,))
    raise ContentMismatch(
        detection.detected, session.declared_type,
        f"isi berkas adalah {detection.detected}, bukan {session.declared_type} seperti yang dinyatakan",
    )


async def _record_part(
    uow_factory: UnitOfWorkFactory, caller: Caller, upload_id: str, part_number: int,
    data: bytearray, sha: str, etag: str, expiry_s: int,
) -> UploadState:
    async with uow_factory() as uow:
        # Locked: two requests for the same part (a client retrying while the first is still
        # in flight) take turns; the second finds the part and changes nothing.
        session = await _owned_session(uow, caller, upload_id, lock=True)
        if session.status != OPEN:
            raise UploadNotOpen(session.status)
        received = received_parts(session)
        if received >= part_number:
            stored = (await uow.session.exec(select(UploadPart).where(
                UploadPart.upload_id == upload_id, UploadPart.part_number == part_number))).first()
            if stored is not None and stored.sha256 == sha:
                uow.session.expunge_all()
                return UploadState(session)
            raise PartOutOfOrder(received + 1, part_number)
        if received + 1 != part_number:
            raise PartOutOfOrder(received + 1, part_number)
        if session.hash_state is not None:
            hasher = sha256state.ResumableSha256(session.hash_state)
            await asyncio.get_running_loop().run_in_executor(_HASHING, hasher.update, data)
            session.hash_state = hasher.state()
        session.received_bytes += len(data)
        session.expires_at = _now() + timedelta(seconds=expiry_s)  # alive while parts arrive
        part = UploadPart(upload_id=upload_id, part_number=part_number, size_bytes=len(data), sha256=sha, etag=etag)
        uow.session.add(session)
        uow.session.add(part)
        await uow.commit()
        uow.session.expunge_all()
        return UploadState(session)


async def complete_upload(
    uow_factory: UnitOfWorkFactory, storage: ObjectStorage, caller: Caller, upload_id: str,
    config: UploadConfig,
) -> Evidence:
    state = await upload_state(uow_factory, caller, upload_id, with_parts=True)
    session = state.session
    if session.status == COMPLETED:  # the client lost our answer: the same evidence again
        async with uow_factory() as uow:
            row = await uow.session.get(Evidence, session.evidence_id)
            if row is not None:
                uow.session.expunge(row)
                return row
        raise UploadNotFound()
    if session.mode == PARTS:
        return await _complete_parts(uow_factory, storage, caller, state, config)
    return await _confirm_presigned(uow_factory, storage, caller, session, config)


async def _complete_parts(uow_factory, storage: ObjectStorage, caller: Caller, state: UploadState,
                          config: UploadConfig) -> Evidence:
    session = state.session
    parts = state.parts or []
    if len(parts) != session.parts_total or sum(p.size_bytes for p in parts) != session.size_bytes:
        raise UploadIncomplete(len(parts), session.parts_total)
    sha = sha256state.ResumableSha256(session.hash_state).hexdigest() if session.hash_state else None
    if sha and session.declared_sha256 and sha != session.declared_sha256:
        await discard_session(uow_factory, storage, session)
        raise FileChecksumMismatch(session.declared_sha256, sha)
    try:
        await storage.complete_multipart(
            session.object_key, session.s3_upload_id or "", [(p.part_number, p.etag) for p in parts],
            size=session.size_bytes,
        )
        if sha is None:  # no resumable hash here (no libcrypto): read the object back once
            sha, _ = await storage.sha256_of(session.object_key)
            if session.declared_sha256 and sha != session.declared_sha256:
                raise FileChecksumMismatch(session.declared_sha256, sha)
        return await _check_and_record(uow_factory, storage, caller, session, sha, config, method=PARTS)
    except BaseException:
        await asyncio.shield(discard_session(uow_factory, storage, session, remove_object=True))
        raise


async def _confirm_presigned(uow_factory, storage: ObjectStorage, caller: Caller, session: UploadSession,
                             config: UploadConfig) -> Evidence:
    staging = staging_key(session.upload_id)
    info = await storage.stat(staging)
    if info is None:
        raise UploadIncomplete(0, 1, ": berkas belum ada di penyimpanan")
    final_key = session.object_key
    try:
        if info.size != session.size_bytes:
            raise AppError(
                "ukuran_berkas_tidak_sesuai",
                f"Ukuran berkas di penyimpanan ({info.size} byte) tidak sama dengan yang dinyatakan "
                f"({session.size_bytes} byte).",
                "The stored object's size differs from the declared size.",
                status_code=422, details={"declared": session.size_bytes, "stored": info.size},
            )
        # The client may still PUT to the staging key while its URL lives: what is checked and
        # kept is a server-side copy under a key only the service writes.
        await storage.copy(staging, final_key)
        await storage.remove(staging)
        sha, size = await storage.sha256_of(final_key)
        if size != session.size_bytes:
            raise UploadIncomplete(0, 1, ": berkas berubah saat diperiksa")
        if session.declared_sha256 and sha != session.declared_sha256:
            raise FileChecksumMismatch(session.declared_sha256, sha)
        return await _check_and_record(uow_factory, storage, caller, session, sha, config, method=PRESIGNED)
    except BaseException:
        await asyncio.shield(discard_session(uow_factory, storage, session, remove_object=True))
        raise


async def _check_and_record(uow_factory, storage: ObjectStorage, caller: Caller, session: UploadSession,
                            sha: str, config: UploadConfig, *, method: str) -> Evidence:
    # The window is judged on the day the upload started; a closed period or a final
    # assessment still refuses it.
    started_on = session.started_on or config.today
    target = await check_target(uow_factory, caller, session.plan_id, session.item_id,
                                type_limits=config.type_limits, today=started_on)

    def inspect():
        with storage.ranged_reader(session.object_key, session.size_bytes) as reader:
            return inspect_content(reader, session.size_bytes, target.policy, declared=session.declared_type)

    inspection = await asyncio.to_thread(inspect)
    raise_for_inspection(inspection, target.policy, session.declared_type)

    async def mark_completed(uow: UnitOfWork) -> None:
        row = await uow.session.get(UploadSession, session.upload_id, with_for_update=True)
        if row is None or row.status != OPEN:
            raise UploadNotOpen(row.status if row else "hilang")
        row.status = COMPLETED
        row.hash_state = None
        uow.session.add(row)
        await uow.session.exec(delete(UploadPart).where(UploadPart.upload_id == session.upload_id))  # type: ignore[call-overload]

    return await record_evidence(
        uow_factory, caller,
        EvidenceFacts(
            evidence_id=session.evidence_id, plan_id=session.plan_id, item_id=session.item_id,
            object_key=session.object_key, sha256=sha, size_bytes=session.size_bytes,
            content_type=inspection.content_type or session.declared_type,
            raw_file_name=session.file_name, method=method,
        ),
        also=mark_completed,
        today=started_on,
    )


async def abort_upload(uow_factory, storage: ObjectStorage, caller: Caller, upload_id: str) -> None:
    state = await upload_state(uow_factory, caller, upload_id)
    if state.session.status != OPEN:
        raise UploadNotOpen(state.session.status)
    await discard_session(uow_factory, storage, state.session)


async def discard_session(uow_factory, storage: ObjectStorage, session: UploadSession, *, remove_object: bool = False) -> None:
    """Storage first, rows last: a failure in between leaves the rows, and the sweeper retries.
    An object an evidence row owns is never removed (a concurrent completion won)."""
    if session.s3_upload_id:
        await storage.abort_multipart(session.object_key, session.s3_upload_id)
    if session.mode == PRESIGNED:
        await storage.remove(staging_key(session.upload_id))
    async with uow_factory() as uow:
        owned = (await uow.session.exec(
            select(func.count()).select_from(Evidence).where(Evidence.object_key == session.object_key)
        )).one()
    if remove_object and not owned:
        await storage.remove(session.object_key)
    async with uow_factory() as uow:
        await uow.session.exec(delete(UploadPart).where(UploadPart.upload_id == session.upload_id))  # type: ignore[call-overload]
        await uow.session.exec(delete(UploadSession).where(  # type: ignore[call-overload]
            UploadSession.upload_id == session.upload_id, UploadSession.status == OPEN))
        await uow.commit()


async def sweep_expired(uow_factory, storage: ObjectStorage, *, now: datetime | None = None,
                        keep_completed_s: int = 86400, batch: int = 100) -> int:
    """Abandoned open sessions: S3 multipart aborted, staging object removed, rows deleted.
    Completed sessions are only bookkeeping (their evidence row owns the object): dropped
    after ``keep_completed_s``. Returns how many open sessions were cleaned."""
    now = now or _now()
    async with uow_factory() as uow:
        stale = list((await uow.session.exec(
            select(UploadSession).where(UploadSession.status == OPEN, UploadSession.expires_at < now).limit(batch)
        )).all())
        uow.session.expunge_all()
    cleaned = 0
    for session in stale:
        try:
            # Completion may have written the object before dying: removed too, unless an
            # evidence row owns it.
            await discard_session(uow_factory, storage, session, remove_object=True)
            cleaned += 1
            log.info("upload.expired_removed", upload_id=session.upload_id, mode=session.mode)
        except Exception as exc:  # the next sweep tries again
            log.warning("upload.sweep_failed", upload_id=session.upload_id, error=str(exc))
    async with uow_factory() as uow:
        await uow.session.exec(delete(UploadSession).where(  # type: ignore[call-overload]
            UploadSession.status == COMPLETED,
            UploadSession.created_at < now - timedelta(seconds=keep_completed_s),
        ))
        await uow.commit()
    return cleaned


async def sweep_staging(uow_factory, storage: ObjectStorage, *, batch: int = 500) -> int:
    """Staging objects no open session will confirm: removed. A presigned PUT URL stays valid
    for its whole TTL whatever happens to the session, so a client may PUT to
    ``staging/<upload id>`` again after the upload was completed (completion copied the object
    to the evidence key and removed the staging one), aborted, refused or expired. Only an
    open session's staging object is ever confirmed, and a session never opens again: every
    other object under the prefix is an orphan, found by listing the prefix (also what a URL
    issued before this sweep existed left). Returns how many were removed."""
    keys = await storage.list_keys(STAGING_PREFIX)
    removed = 0
    for i in range(0, len(keys), batch):
        chunk = {key[len(STAGING_PREFIX):]: key for key in keys[i:i + batch]}
        async with uow_factory() as uow:
            open_ids = set((await uow.session.exec(
                select(UploadSession.upload_id).where(
                    UploadSession.upload_id.in_(list(chunk)),  # type: ignore[attr-defined]
                    UploadSession.status == OPEN, UploadSession.mode == PRESIGNED)
            )).all())
        for upload_id, key in chunk.items():
            if upload_id in open_ids:
                continue
            try:
                await storage.remove(key)
                removed += 1
                log.warning("upload.staging_orphan_removed", object_key=key)
            except Exception as exc:  # the next sweep tries again
                log.warning("upload.sweep_failed", object_key=key, error=str(exc))
    return removed


async def sweep(uow_factory, storage: ObjectStorage, *, pending_max_age_s: float, now: datetime | None = None) -> None:
    """One round of the background sweep: abandoned upload sessions, staging objects no open
    session owns (a presigned URL used again), then objects a killed process left without
    their evidence row (pending-object records older than ``pending_max_age_s``; see
    :mod:`pending`)."""
    try:
        await sweep_expired(uow_factory, storage, now=now)
        await sweep_staging(uow_factory, storage)
    finally:
        await pending.sweep_pending_objects(uow_factory, storage, max_age_s=pending_max_age_s, now=now)


async def run_sweeper(uow_factory, storage: ObjectStorage, interval_s: float, pending_max_age_s: float) -> None:
    """Background task: sweep every ``interval_s`` seconds for as long as the service runs."""
    while True:
        try:
            await sweep(uow_factory, storage, pending_max_age_s=pending_max_age_s)
        except Exception as exc:
            log.warning("upload.sweep_error", error=str(exc))
        await asyncio.sleep(interval_s)
