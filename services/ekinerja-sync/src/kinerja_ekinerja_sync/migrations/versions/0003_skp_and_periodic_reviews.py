"""agreed plans (SKP) and periodic reviews: sync_records.kind/review/period_id, roster and period read models

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:30:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '0003'
down_revision: Union[str, Sequence[str], None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Every record made before this revision mirrors a final result: kind "hasil".
    with op.batch_alter_table('sync_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), server_default='hasil',
                                      nullable=False))
        batch_op.add_column(sa.Column('review', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch_op.add_column(sa.Column('period_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_sync_records_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_sync_records_period_id'), ['period_id'], unique=False)

    op.create_table('roster_people',
    sa.Column('nip', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('role', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('jabatan', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('jenjang', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('golongan', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('asn_status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('assessor_nip', sqlmodel.sql.sqltypes.AutoString(length=18), nullable=True),
    sa.Column('roster_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('nip')
    )
    op.create_table('roster_schools',
    sa.Column('npsn', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False),
    sa.Column('roster_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('npsn')
    )
    op.create_table('periods',
    sa.Column('period_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('policy', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('month_start', sa.Integer(), nullable=False),
    sa.Column('month_end', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('period_id')
    )


def downgrade() -> None:
    op.drop_table('periods')
    op.drop_table('roster_schools')
    op.drop_table('roster_people')
    with op.batch_alter_table('sync_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sync_records_period_id'))
        batch_op.drop_index(batch_op.f('ix_sync_records_kind'))
        batch_op.drop_column('period_id')
        batch_op.drop_column('review')
        batch_op.drop_column('kind')
