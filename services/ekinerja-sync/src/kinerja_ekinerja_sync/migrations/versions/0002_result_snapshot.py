"""sync_records.result_snapshot: the result as finalized, to re-map it when a roster fixes it

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:55:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '0002'
down_revision: Union[str, Sequence[str], None] = '0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable: records made before this revision have no snapshot (they resume by operator only).
    with op.batch_alter_table('sync_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('result_snapshot', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sync_records', schema=None) as batch_op:
        batch_op.drop_column('result_snapshot')
