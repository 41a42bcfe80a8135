"""keywords out: tag runs and the sidecars they wrote

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 17:20:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("hierarchy", sa.String(), nullable=False),
        sa.Column("precision", sa.Float(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_runs")),
    )
    op.create_table(
        "tag_operations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("sidecar", sa.String(), nullable=False),
        sa.Column("class_name", sa.String(), nullable=False),
        sa.Column("existed", sa.Boolean(), nullable=False),
        sa.Column("before", sa.LargeBinary(), nullable=True),
        sa.Column("after_hash", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["tag_runs.id"], name=op.f("fk_tag_operations_run_id_tag_runs"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], name=op.f("fk_tag_operations_image_id_images"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_operations")),
    )
    op.create_index(op.f("ix_tag_operations_run_id"), "tag_operations", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tag_operations_run_id"), table_name="tag_operations")
    op.drop_table("tag_operations")
    op.drop_table("tag_runs")
