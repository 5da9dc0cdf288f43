"""upload owners

One row per teacher who has started a resumable upload, locked by every start, so that the
cap on open uploads per user (KINERJA_MAX_OPEN_UPLOADS_PER_USER) holds when starts race.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:45:00.000000

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


def upgrade() -> None:
    op.create_table('evidence_upload_owners',
    sa.Column('owner_nip', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('last_started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('owner_nip')
    )


def downgrade() -> None:
    op.drop_table('evidence_upload_owners')
