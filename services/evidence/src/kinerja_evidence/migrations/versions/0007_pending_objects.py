"""pending objects

Object keys that may be in storage without an evidence row (an upload between its object
write and its row's commit, a withdrawal between its row's delete and the object's removal):
what a killed process leaves there is removed by the sweep.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 13:30:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('evidence_pending_objects',
    sa.Column('object_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('claimed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('object_key')
    )
    with op.batch_alter_table('evidence_pending_objects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_pending_objects_created_at'), ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('evidence_pending_objects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_pending_objects_created_at'))

    op.drop_table('evidence_pending_objects')
