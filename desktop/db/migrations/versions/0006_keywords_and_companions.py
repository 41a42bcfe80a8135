"""keywords read from photos and sidecars; sort operations of companion files

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 17:10:00.000000
"""

from alembic import op
import sqlalchemy as sa


revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_keywords",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("keyword", sa.String(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], name=op.f("fk_image_keywords_image_id_images"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("image_id", "keyword", name=op.f("pk_image_keywords")),
    )
    with op.batch_alter_table("sort_operations") as batch:
        batch.add_column(sa.Column("companion_of", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sort_operations") as batch:
        batch.drop_column("companion_of")
    op.drop_table("image_keywords")
