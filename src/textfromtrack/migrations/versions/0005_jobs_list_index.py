"""The job list's order (newest first, id as tie-break) read straight off one index.

With (user_id, created_at) alone SQLite sorted every page's ties in a temporary
B-tree (EXPLAIN: "USE TEMP B-TREE FOR RIGHT PART OF ORDER BY"): 4 ms of a 200-row
page over 1000 jobs. With id in the index the page is an index range scan.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_jobs_user_created_id", "jobs", ["user_id", "created_at", "id"])
    op.drop_index("ix_jobs_user_created", table_name="jobs")


def downgrade() -> None:
    op.create_index("ix_jobs_user_created", "jobs", ["user_id", "created_at"])
    op.drop_index("ix_jobs_user_created_id", table_name="jobs")
