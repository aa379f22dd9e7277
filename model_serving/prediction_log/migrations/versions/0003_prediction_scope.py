"""Record whether each prediction was in the model's scope, and why not.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("in_scope", sa.Boolean(), nullable=True))
    op.add_column("predictions", sa.Column("scope_reason", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("scope_reason")
        batch.drop_column("in_scope")
