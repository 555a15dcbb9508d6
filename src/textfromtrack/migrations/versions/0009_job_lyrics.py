"""Jobs may carry the user's own lyrics, aligned to the audio instead of transcribed.

``lyrics`` is the text as submitted (line breaks as LF); ``lyrics_anchored`` the share
of its words that the alignment anchored to words heard in the audio (the rest are
timed between them), null for jobs without lyrics.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("lyrics", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lyrics_anchored", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("lyrics_anchored")
        batch_op.drop_column("lyrics")
