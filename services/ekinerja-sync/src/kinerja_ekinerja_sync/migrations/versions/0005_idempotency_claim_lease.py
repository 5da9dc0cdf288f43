"""idempotency claim lease

Idempotency-Key claims are leases renewed by a heartbeat while the request runs
(kinerja_shared.idempotency): the holder's random claim_token, so only the holder renews,
stores or releases its claim, and lease_until, after which a claim nobody renews (its
request died with its process) may be taken over. Rows claimed before this revision have
neither and expire a lease after created_at.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 13:40:00.000000

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel


# revision identifiers, used by Alembic.
revision: str = '0005'
down_revision: Union[str, Sequence[str], None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claim_token', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('lease_until', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('idempotency_keys', schema=None) as batch_op:
        batch_op.drop_column('lease_until')
        batch_op.drop_column('claim_token')
