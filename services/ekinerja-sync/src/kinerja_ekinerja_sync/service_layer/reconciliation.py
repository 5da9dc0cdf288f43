"""Reconciliation: what was finalized here for a period and a region against what e-Kinerja
returns (GET /pns/rw-kinerjaperiodik/{nip}); with ``kind=skp`` the agreed plans of that period
against GET /pns/rw-rencanaskp/{nip} (the same report, one SKP per NIP and period).

- missing: a result here with no record in e-Kinerja for that NIP and period;
- extra: a record in e-Kinerja for that NIP and period that none of our results points at;
- different: the record our result points at holds other values than we sent.
With ``requeue_missing`` the missing ones go back to "pending" (read-first, so no duplicate).
Only NIPs we hold results for can be asked: e-Kinerja has no "list by region" call.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from sqlmodel import select

from kinerja_shared import access
from kinerja_shared.access_rules import ekinerja_sync as actions
from kinerja_shared.auth import Principal
from kinerja_shared.errors import AppError, DependencyUnavailable, Forbidden
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_ekinerja_sync.adapters.ekinerja_client import EkinerjaClient, EkinerjaUnreachable
from kinerja_ekinerja_sync.adapters.tables import SyncAttempt, SyncRecord
from kinerja_ekinerja_sync.domain import model
from kinerja_ekinerja_sync.service_layer.channels import channel_for

PERIOD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
# Values compared for "different" (the id and timestamps are BKN's own): per kind, in channels.py.
COMPARED = channel_for(model.RESULT).compared
# Kinds a period can be reconciled for (periodic reviews are per month or quarter, not per period).
RECONCILED_KINDS = (model.RESULT, model.PLAN)


def parse_period(period: str) -> tuple[int, int, int]:
    m = PERIOD.match(period or "")
    if not m or not (1 <= int(m[2]) <= int(m[3]) <= 12):
        raise AppError("periode_tidak_valid", "Periode harus berbentuk TAHUN-BULANMULAI-BULANSELESAI, mis. 2026-1-6.",
                       "Period must be YEAR-MONTHSTART-MONTHEND, e.g. 2026-1-6.", status_code=400)
    return int(m[1]), int(m[2]), int(m[3])


def _region_matches(wanted: str, region: str) -> bool:
    return region[:2] == wanted[:2] if wanted.endswith("0000") else region == wanted


async def reconcile(
    uow_factory: UnitOfWorkFactory, client: EkinerjaClient, principal: Principal, period: str, region: str,
    *, requeue_missing: bool = False, kind: str = model.RESULT, run: bool = False,
) -> dict[str, Any]:
    """A report (``run`` False: GET) or a run that may re-queue (POST); the Dinas of ``region``."""
    action = actions.RECONCILIATION_RUN if requeue_missing or run else actions.RECONCILIATION_READ
    access.require_action(principal, action)
    if kind not in RECONCILED_KINDS:
        raise AppError("jenis_rekaman_tidak_dikenal", "Rekonsiliasi hanya untuk jenis 'hasil' atau 'skp'.",
                       "Reconciliation is for kind 'hasil' or 'skp'.", status_code=400,
                       details={"allowed": list(RECONCILED_KINDS)})
    channel = channel_for(kind)
    if not re.fullmatch(r"\d{6}", region or ""):
        raise AppError("wilayah_tidak_valid", "Kode wilayah harus 6 digit angka.",
                       "The region must be 6 digits.", status_code=400)
    if not access.allows(principal, action, access.Resource(region=region)):
        raise Forbidden("rekonsiliasi_ditolak", "Wilayah ini di luar wilayah Anda.", "This region is outside yours.")
    year, month_start, month_end = parse_period(period)
    async with uow_factory() as uow:
        rows = (
            await uow.session.exec(
                select(SyncRecord).where(
                    SyncRecord.kind == kind,
                    SyncRecord.year == year, SyncRecord.month_start == month_start, SyncRecord.month_end == month_end,
                    SyncRecord.status.not_in((model.SKIPPED, model.SUPERSEDED)),  # type: ignore[attr-defined]
                )
            )
        ).all()
        # Plain copies: no database connection is held across the calls to e-Kinerja.
        rows = [SyncRecord.model_validate(r.model_dump()) for r in rows]
    newest: dict[str, SyncRecord] = {}
    for r in rows:  # one result per assessment: its newest version
        if _region_matches(region, r.region) and (
            r.assessment_id not in newest or r.assessment_version > newest[r.assessment_id].assessment_version
        ):
            newest[r.assessment_id] = r
    by_nip: dict[str, list[SyncRecord]] = {}
    for r in newest.values():
        by_nip.setdefault(r.teacher_nip, []).append(r)

    missing, extra, different, unreadable = [], [], [], []
    matched = 0
    for nip, ours in sorted(by_nip.items()):
        try:
            answer = await channel.history(client, nip)
        except EkinerjaUnreachable as exc:
            unreadable.append({"teacher_nip": nip, "message": f"e-Kinerja tidak terjangkau: {exc.kind}"})
            continue
        if not 200 <= answer.status < 300:
            unreadable.append({"teacher_nip": nip, "http_status": answer.status, "message": answer.message})
            continue
        data = answer.body.get("data") or []
        theirs = {
            str(d.get("id")): d for d in data
            if isinstance(d, dict) and d.get("tahun") == year
            and d.get("bulanMulaiPenilaian") == month_start and d.get("bulanSelesaiPenilaian") == month_end
        }
        claimed = set()
        for r in ours:
            remote = theirs.get(r.ekinerja_record_id or "")
            if remote is None:
                missing.append(_row(r))
                continue
            claimed.add(r.ekinerja_record_id)
            sent = r.payload_dict() or {}
            changed = {f: {"kinerja": sent.get(f), "ekinerja": remote.get(f)} for f in channel.compared
                       if sent.get(f) != remote.get(f)}
            if changed:
                different.append({**_row(r), "fields": changed})
            else:
                matched += 1
        for rid, remote in theirs.items():
            if rid not in claimed:
                extra.append({"teacher_nip": nip, "ekinerja_record_id": rid,
                              "values": {f: remote.get(f) for f in channel.compared}})

    if by_nip and len(unreadable) == len(by_nip):
        # Not one teacher could be read: e-Kinerja is away, and a report of nothing but
        # "unreadable" would look like an answer. Say so, and when to come back.
        raise DependencyUnavailable("ekinerja", retry_after_s=30)
    requeued = []
    if requeue_missing and missing:
        requeued = await _requeue(uow_factory, principal, [m["sync_record_id"] for m in missing])
    return {
        "period": f"{year}-{month_start}-{month_end}", "region": region, "kind": kind,
        "results": len(newest), "matched": matched,
        "missing": missing, "extra": extra, "different": different, "unreadable": unreadable,
        "requeued": requeued, "checked_at": datetime.now(timezone.utc).isoformat(),
    }


def _row(r: SyncRecord) -> dict[str, Any]:
    plan = r.kind == model.PLAN
    return {
        "sync_record_id": r.id, "kind": r.kind, "key": r.assessment_id,
        "assessment_id": None if plan else r.assessment_id,
        "assessment_version": None if plan else r.assessment_version,
        "plan_id": r.assessment_id if plan else None, "plan_revision": r.assessment_version if plan else None,
        "teacher_nip": r.teacher_nip, "school_npsn": r.school_npsn, "status": r.status,
        "ekinerja_record_id": r.ekinerja_record_id,
    }


async def _requeue(uow_factory: UnitOfWorkFactory, principal: Principal, record_ids: list[str]) -> list[str]:
    now = datetime.now(timezone.utc)
    done = []
    async with uow_factory() as uow:
        for rid in record_ids:
            r = await uow.session.get(SyncRecord, rid)
            # Only settled ones: pending/retrying/sending are on their way already.
            if r is None or r.status not in (model.ACKNOWLEDGED, model.PARKED) or r.payload is None:
                continue
            uow.session.add(SyncAttempt(
                record_id=r.id, attempt=r.attempt_count, at=now, outcome="requeued",
                message=f"Rekonsiliasi: tidak ada di e-Kinerja (id {r.ekinerja_record_id or '-'}); dikirim ulang "
                        f"oleh {principal.role} {principal.nip or principal.sub}",
            ))
            # The old id is gone from e-Kinerja: send as new, reading first (ambiguous).
            r.status, r.next_attempt_at, r.updated_at = model.PENDING, now, now
            r.ekinerja_record_id, r.ambiguous, r.responsible_actor = None, True, None
            uow.session.add(r)
            done.append(r.assessment_id)
        await uow.commit()
    return done


def scheduled_reports(job: "ScheduledReconciliation", principal: Principal) -> dict[str, dict[str, Any]]:
    """The job's latest reports ("<period>@<region>") of the regions the caller covers."""
    access.require_action(principal, actions.RECONCILIATION_READ)
    return {key: report for key, report in job.latest.items()
            if access.allows(principal, actions.RECONCILIATION_READ, access.Resource(region=report["region"]))}


class ScheduledReconciliation:
    """The background job: each interval, every configured period and region; the latest
    report per target is kept for the API and logged."""

    def __init__(self, uow_factory: UnitOfWorkFactory, client: EkinerjaClient, settings) -> None:
        self.uow, self.client, self.settings = uow_factory, client, settings
        self.latest: dict[str, dict[str, Any]] = {}
        self.principal = Principal(sub="reconciliation-job", role="sistem")

    async def run(self) -> None:
        import asyncio

        from kinerja_shared.logging import get_logger

        log = get_logger(__name__)
        while True:
            for period, region in self.settings.reconcile_targets():
                try:
                    report = await reconcile(
                        self.uow, self.client, self.principal, period, region,
                        requeue_missing=self.settings.ekinerja_reconcile_requeue_missing,
                    )
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bad target or the database away: next time
                    log.warning("reconciliation.failed", period=period, region=region, error=str(exc))
                    continue
                self.latest[f"{period}@{region}"] = report
                log.info("reconciliation.done", period=period, region=region, results=report["results"],
                         missing=len(report["missing"]), extra=len(report["extra"]),
                         different=len(report["different"]), requeued=len(report["requeued"]))
            await asyncio.sleep(self.settings.ekinerja_reconcile_interval_s)
