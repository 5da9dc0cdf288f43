"""assessment 0007: read models applied by the events' own order: roster_at on people, schedule_at on periods, plan_revision on assessments

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 12:50:00.000000

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
    with op.batch_alter_table('assessment_people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('roster_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('assessment_periods', schema=None) as batch_op:
        batch_op.add_column(sa.Column('schedule_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_revision', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('assessments', schema=None) as batch_op:
        batch_op.drop_column('plan_revision')
    with op.batch_alter_table('assessment_periods', schema=None) as batch_op:
        batch_op.drop_column('schedule_at')
    with op.batch_alter_table('assessment_people', schema=None) as batch_op:
        batch_op.drop_column('roster_at')
