"""feedback tables: posts (the text, once per post) and corrections

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_posts",
        sa.Column("post_id", sa.String(512), primary_key=True),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=True),
        sa.Column("channel", sa.String(100), nullable=True),
        sa.Column("author_followers", sa.BigInteger, nullable=True),
        sa.Column("author_verified", sa.Boolean, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "feedback_corrections",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "post_id", sa.String(512), sa.ForeignKey("feedback_posts.post_id"), nullable=False
        ),
        sa.Column("reviewer", sa.String(256), nullable=False),
        sa.Column("corrected_at", sa.DateTime, nullable=False),
        sa.Column("labels", sa.Text, nullable=True),
        sa.Column("urgency", sa.Float, nullable=True),
        sa.Column("model_version", sa.String(256), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.UniqueConstraint("post_id", "reviewer", "corrected_at", name="uq_feedback_correction"),
    )
    op.create_index(
        "ix_feedback_corrections_corrected_at", "feedback_corrections", ["corrected_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_feedback_corrections_corrected_at", "feedback_corrections")
    op.drop_table("feedback_corrections")
    op.drop_table("feedback_posts")
