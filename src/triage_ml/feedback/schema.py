"""The store's tables (SQLAlchemy Core). The migrations in ``migrations/versions`` create them;
this module describes the current schema for queries and must match the newest migration
(tests/feedback checks that a migrated database has exactly these columns).

A post's text lives in one row of ``feedback_posts``; every correction of that post points at
it, so erasing a post is one delete there and one in ``feedback_corrections``. Times are UTC
without an offset (the same in SQLite and PostgreSQL).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

VERSION_TABLE = "feedback_alembic_version"
"""Alembic's version table under its own name, so the store can share a database with MLflow
(which keeps its own ``alembic_version``)."""

metadata = MetaData()

posts = Table(
    "feedback_posts",
    metadata,
    Column("post_id", String(512), primary_key=True),
    Column("text", Text, nullable=False),
    Column("created_at", DateTime, nullable=True),
    Column("channel", String(100), nullable=True),
    Column("author_followers", BigInteger, nullable=True),
    Column("author_verified", Boolean, nullable=True),
    Column("updated_at", DateTime, nullable=False),
)

corrections = Table(
    "feedback_corrections",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("post_id", String(512), ForeignKey("feedback_posts.post_id"), nullable=False),
    Column("reviewer", String(256), nullable=False),
    Column("corrected_at", DateTime, nullable=False),
    Column("labels", Text, nullable=True),
    Column("urgency", Float, nullable=True),
    Column("model_version", String(256), nullable=False),
    Column("request_id", String(128), nullable=True),
    Column("received_at", DateTime, nullable=False),
    UniqueConstraint("post_id", "reviewer", "corrected_at", name="uq_feedback_correction"),
    Index("ix_feedback_corrections_corrected_at", "corrected_at"),
)
