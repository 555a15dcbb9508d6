"""Jobs remember a caller's decoding requests: a prompt, a temperature, the task.

The OpenAI-compatible endpoints take ``prompt``, ``temperature`` and the translate
task; the worker must decode with exactly what was asked, whichever process runs it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("prompt", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("temperature", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("task", sa.String(16), nullable=False, server_default="transcribe")
        )


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("task")
        batch_op.drop_column("temperature")
        batch_op.drop_column("prompt")
