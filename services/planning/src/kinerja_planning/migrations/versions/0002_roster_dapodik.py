"""roster dapodik: school jenjang/status/province code; NUPTK, NIK, jenis PTK; people who left

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 08:24:44.302317

Reviewed: the NOT NULL text columns get server_default '' so existing rows are valid (the
models keep a Python default only; server defaults are not compared). Existing schools get
the province code derived from their kabupaten/kota code.
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
    with op.batch_alter_table('planning_people', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nuptk', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('nik', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('jenis_ptk', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('left_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('left_npsn', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))

    with op.batch_alter_table('planning_schools', schema=None) as batch_op:
        batch_op.add_column(sa.Column('jenjang', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('province_code', sqlmodel.sql.sqltypes.AutoString(length=6), nullable=False, server_default=''))

    # Dapodik kode wilayah: the province is the first two digits of the kabupaten/kota code.
    op.execute("UPDATE planning_schools SET province_code = substr(region_code, 1, 2) || '0000'")


def downgrade() -> None:
    with op.batch_alter_table('planning_schools', schema=None) as batch_op:
        batch_op.drop_column('province_code')
        batch_op.drop_column('status')
        batch_op.drop_column('jenjang')

    with op.batch_alter_table('planning_people', schema=None) as batch_op:
        batch_op.drop_column('left_npsn')
        batch_op.drop_column('left_at')
        batch_op.drop_column('jenis_ptk')
        batch_op.drop_column('nik')
        batch_op.drop_column('nuptk')
