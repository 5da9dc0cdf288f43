"""same bytes once per plan item

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 12:30:00.000000

Two identical uploads racing could both be recorded (issue 10): the database now refuses the
second. Rows that broke the rule before this migration (the earlier of a pair is kept) must be
withdrawn first, through the API (DELETE /v1/evidence/{id}: EvidenceDeleted keeps the other
services' read models right); the upgrade refuses to guess which copy the assessor has seen.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NO_ITEM = sa.text("item_id IS NULL")


def _refuse_existing_duplicates() -> None:
    later = op.get_bind().execute(sa.text(
        "SELECT e.evidence_id FROM evidence_files e WHERE EXISTS ("
        " SELECT 1 FROM evidence_files o WHERE o.plan_id = e.plan_id AND o.sha256 = e.sha256"
        " AND (o.item_id = e.item_id OR (o.item_id IS NULL AND e.item_id IS NULL))"
        " AND (o.uploaded_at < e.uploaded_at"
        "      OR (o.uploaded_at = e.uploaded_at AND o.evidence_id < e.evidence_id)))"
    )).scalars().all()
    if later:
        raise RuntimeError(
            "evidence_files holds the same bytes twice for the same plan item; withdraw the later "
            f"copies (DELETE /v1/evidence/{{id}}) before upgrading: {', '.join(later[:50])}"
        )


def upgrade() -> None:
    _refuse_existing_duplicates()
    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.create_index('uq_evidence_files_plan_item_sha256', ['plan_id', 'item_id', 'sha256'], unique=True)
        batch_op.create_index('uq_evidence_files_plan_sha256_no_item', ['plan_id', 'sha256'], unique=True,
                              sqlite_where=NO_ITEM, postgresql_where=NO_ITEM)


def downgrade() -> None:
    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.drop_index('uq_evidence_files_plan_sha256_no_item')
        batch_op.drop_index('uq_evidence_files_plan_item_sha256')
