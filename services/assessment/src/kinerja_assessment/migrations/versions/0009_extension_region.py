"""assessment 0009: a deadline extension for every school is kept per granting region (region in the key)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:10:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

KEY = ['period_id', 'npsn', 'region']


def _table(key: list[str]) -> sa.Table:
    return sa.Table(
        'assessment_extensions', sa.MetaData(),
        sa.Column('period_id', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('npsn', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('until', sa.Date(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('granted_by', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('granted_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6), server_default='', nullable=False),
        sa.PrimaryKeyConstraint(*key),
    )


def upgrade() -> None:
    # Rows granted before keep region "": every school, as when they were granted.
    with op.batch_alter_table('assessment_extensions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=6),
                                      server_default='', nullable=False))
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('assessment_extensions_pkey', 'assessment_extensions', type_='primary')
        op.create_primary_key('assessment_extensions_pkey', 'assessment_extensions', KEY)
    else:  # SQLite: the table is copied into one defined with the new key
        with op.batch_alter_table('assessment_extensions', recreate='always', copy_from=_table(KEY)):
            pass


def downgrade() -> None:
    op.execute("DELETE FROM assessment_extensions WHERE region <> '' AND npsn = ''")
    if op.get_bind().dialect.name == 'postgresql':
        op.drop_constraint('assessment_extensions_pkey', 'assessment_extensions', type_='primary')
        op.create_primary_key('assessment_extensions_pkey', 'assessment_extensions', ['period_id', 'npsn'])
    with op.batch_alter_table('assessment_extensions', schema=None) as batch_op:
        batch_op.drop_column('region')
