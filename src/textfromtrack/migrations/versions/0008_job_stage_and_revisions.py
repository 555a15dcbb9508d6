"""Jobs say which stage they are in, and transcripts can be edited and restored.

``stage`` is what the pipeline is doing now (decoding, recognising, separating vocals,
retrying in music mode, post-processing), for the live events and the poll.
``revision`` counts saved edits (0: the machine's lines); ``original_segments`` keeps
the machine's lines from the first edit on, so undo can put them back.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("stage", sa.String(32), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("original_segments", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("original_segments")
        batch_op.drop_column("revision")
        batch_op.drop_column("stage")
