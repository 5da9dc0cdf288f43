"""resumable uploads, plan items, periods, review, reuse

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:29:22.056376

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
    # Reviewed: the NOT NULL columns added to existing tables carry a server default so rows
    # stored before this revision get a value (evidence 'submitted', plans 'pmm-2024').
    op.create_table('evidence_finalized',
    sa.Column('period_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('teacher_nip', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('assessment_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('finalized_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('period_id', 'teacher_nip')
    )
    op.create_table('evidence_monthly_targets',
    sa.Column('plan_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('target_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('month', sqlmodel.sql.sqltypes.AutoString(length=7), nullable=False),
    sa.Column('item_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('plan_id', 'target_id')
    )
    op.create_table('evidence_period_views',
    sa.Column('period_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('policy', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=False),
    sa.Column('execution_starts_on', sa.Date(), nullable=True),
    sa.Column('execution_ends_on', sa.Date(), nullable=True),
    sa.Column('evidence_required', sa.Boolean(), nullable=False),
    sa.Column('competency_points_min', sa.Integer(), nullable=False),
    sa.Column('competency_points_max', sa.Integer(), nullable=False),
    sa.Column('competency_points_max_per_activity', sa.Integer(), nullable=True),
    sa.Column('schedule_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('closed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.Column('updated_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('period_id')
    )
    op.create_table('evidence_plan_items',
    sa.Column('plan_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('item_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('code', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('plan_id', 'item_id')
    )
    op.create_table('evidence_upload_parts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('upload_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('part_number', sa.Integer(), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('etag', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('upload_id', 'part_number')
    )
    with op.batch_alter_table('evidence_upload_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_upload_parts_upload_id'), ['upload_id'], unique=False)

    op.create_table('evidence_upload_sessions',
    sa.Column('upload_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('owner_nip', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('plan_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('item_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('mode', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('file_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('declared_type', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('declared_sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('part_size', sa.BigInteger(), nullable=False),
    sa.Column('parts_total', sa.Integer(), nullable=False),
    sa.Column('evidence_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('object_key', sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
    sa.Column('s3_upload_id', sqlmodel.sql.sqltypes.AutoString(length=1024), nullable=True),
    sa.Column('hash_state', sa.LargeBinary(), nullable=True),
    sa.Column('received_bytes', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('expires_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('upload_id')
    )
    with op.batch_alter_table('evidence_upload_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_evidence_upload_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_evidence_upload_sessions_owner_nip'), ['owner_nip'], unique=False)

    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.add_column(sa.Column('item_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='submitted'))
        batch_op.add_column(sa.Column('review_reason', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('reviewed_by', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('reviewed_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('reuse_flagged', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('reuse_of', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('upload_method', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='single'))

    with op.batch_alter_table('evidence_plan_views', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False, server_default='pmm-2024'))
        batch_op.add_column(sa.Column('competency_points', sa.Integer(), nullable=False, server_default='0'))

    # ### end Alembic commands ###


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table('evidence_plan_views', schema=None) as batch_op:
        batch_op.drop_column('competency_points')
        batch_op.drop_column('policy')

    with op.batch_alter_table('evidence_files', schema=None) as batch_op:
        batch_op.drop_column('upload_method')
        batch_op.drop_column('reuse_of')
        batch_op.drop_column('reuse_flagged')
        batch_op.drop_column('reviewed_at')
        batch_op.drop_column('reviewed_by')
        batch_op.drop_column('review_reason')
        batch_op.drop_column('status')
        batch_op.drop_column('item_id')

    with op.batch_alter_table('evidence_upload_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_upload_sessions_owner_nip'))
        batch_op.drop_index(batch_op.f('ix_evidence_upload_sessions_expires_at'))

    op.drop_table('evidence_upload_sessions')
    with op.batch_alter_table('evidence_upload_parts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_upload_parts_upload_id'))

    op.drop_table('evidence_upload_parts')
    op.drop_table('evidence_plan_items')
    op.drop_table('evidence_period_views')
    op.drop_table('evidence_monthly_targets')
    op.drop_table('evidence_finalized')
    # ### end Alembic commands ###
