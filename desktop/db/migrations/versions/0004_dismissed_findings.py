"""dismissed health-scan findings

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 05:00:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dismissed_findings",
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("dismissed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "content_hash", name=op.f("pk_dismissed_findings")),
    )


def downgrade() -> None:
    op.drop_table("dismissed_findings")
