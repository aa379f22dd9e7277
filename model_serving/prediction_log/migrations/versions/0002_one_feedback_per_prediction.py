"""One feedback row per prediction: a unique index on feedback.prediction_id.

Earlier duplicates are removed first (the oldest row of each prediction is kept), so that the
index can be built on a database that already holds repeated feedback. The unique index is made
before the old one is dropped: MySQL needs an index on the foreign key column at every moment.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The derived table lets MySQL delete from the table the subquery reads.
    op.execute(
        sa.text(
            "DELETE FROM feedback WHERE id NOT IN (SELECT keep_id FROM "
            "(SELECT MIN(id) AS keep_id FROM feedback GROUP BY prediction_id) AS keep)"
        )
    )
    op.create_index("ux_feedback_prediction_id", "feedback", ["prediction_id"], unique=True)
    op.drop_index("ix_feedback_prediction_id", table_name="feedback")


def downgrade() -> None:
    op.create_index("ix_feedback_prediction_id", "feedback", ["prediction_id"])
    op.drop_index("ux_feedback_prediction_id", table_name="feedback")
