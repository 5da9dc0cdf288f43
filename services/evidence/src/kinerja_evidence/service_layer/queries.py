"""Reading evidence: lists, one item, a short-lived download link. One rule for all
(``evidence.evidence.read``): the owner, the plan's assessor, the Dinas of the plan's region."""

from __future__ import annotations

from sqlmodel import select

from kinerja_shared import access
from kinerja_shared.access_rules import evidence as actions
from kinerja_shared.logging import get_logger
from kinerja_shared.uow import UnitOfWorkFactory

from kinerja_evidence.adapters.storage import ObjectStorage
from kinerja_evidence.adapters.tables import Evidence, PlanView
from kinerja_evidence.domain.model import (
    AccessDenied,
    Caller,
    EvidenceNotFound,
    PlanNotFound,
    StoredFileMissing,
)
from kinerja_evidence.service_layer.access_checks import require_on_plan
from kinerja_evidence.service_layer.plans import get_plan

log = get_logger(__name__)


async def list_evidence(uow_factory: UnitOfWorkFactory, caller: Caller, plan_id: str) -> list[Evidence]:
    access.require_action(caller, actions.EVIDENCE_READ)
    async with uow_factory() as uow:
        plan = await get_plan(uow.session, plan_id)
        if plan is None:
            raise PlanNotFound()
        require_on_plan(caller, actions.EVIDENCE_READ, plan)
        rows = await uow.session.exec(
            select(Evidence)
            .where(Evidence.plan_id == plan_id)
            .order_by(Evidence.uploaded_at, Evidence.evidence_id)  # type: ignore[arg-type]
        )
        found = list(rows.all())
        uow.session.expunge_all()  # readable after the unit of work closes
        return found


async def get_evidence(uow_factory: UnitOfWorkFactory, caller: Caller, evidence_id: str) -> Evidence:
    access.require_action(caller, actions.EVIDENCE_READ)
    async with uow_factory() as uow:
        row = await uow.session.get(Evidence, evidence_id)
        if row is None:
            raise EvidenceNotFound()
        plan = await uow.session.get(PlanView, row.plan_id)
        if plan is None:
            raise AccessDenied()
        require_on_plan(caller, actions.EVIDENCE_READ, plan)
        uow.session.expunge_all()
        return row


async def download_link(
    uow_factory: UnitOfWorkFactory,
    storage: ObjectStorage,
    caller: Caller,
    evidence_id: str,
    *,
    ttl_s: int,
) -> str:
    row = await get_evidence(uow_factory, caller, evidence_id)
    # Asked first: signing alone is local, and would hand out a link to a store that is down
    # (503 instead) or to a file the store lost (said so instead of a 404 from the store).
    if await storage.stat(row.object_key) is None:
        log.error("evidence.object_missing", evidence_id=evidence_id, object_key=row.object_key)
        raise StoredFileMissing()
    return await storage.presigned_get(
        row.object_key, ttl_s=ttl_s, file_name=row.file_name, content_type=row.content_type
    )
