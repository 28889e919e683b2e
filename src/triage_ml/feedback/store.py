"""The durable store of corrections: SQLAlchemy over SQLite (WAL) or PostgreSQL.

``TRIAGE_FEEDBACK_URL`` (or an explicit URL) names the database; the default is
``sqlite:///<project>/feedback.db``, where ``<project>`` is the nearest folder above the working
directory holding ``dvc.yaml`` or ``.git``. Opening a store brings its schema to the newest
migration (Alembic, shipped in this package), so a new database needs no setup step.

Writes are idempotent on (post id, reviewer, corrected_at): a retried correction is stored
once, and a different correction under the same key is refused as a conflict. On SQLite,
every write transaction starts with ``BEGIN IMMEDIATE`` and waits for the lock (``busy_timeout``)
instead of failing, so several service workers can write to one file; on PostgreSQL the
unique constraint does the same job.

SQLAlchemy is imported when a store is opened, never when this package is imported.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage_ml._extras import require
from triage_ml.contract.errors import DataError

URL_ENV = "TRIAGE_FEEDBACK_URL"
DEFAULT_FILE = "feedback.db"
BUSY_TIMEOUT_MS = 30_000
_MIGRATION_LOCK = 0x7472_6961_6765  # pg_advisory_xact_lock key: one migrating worker at a time
_EXPORT_COLUMNS = (
    "id",
    "text",
    "created_at",
    "channel",
    "author_followers",
    "author_verified",
    "labels",
    "urgency",
    "reviewer",
    "corrected_at",
    "model_version",
    "corrected_fields",
)


class FeedbackStoreError(RuntimeError):
    """The store cannot be opened, migrated or written (unreachable server, bad URL...)."""


class CorrectionConflict(DataError):
    """A different correction is already stored under the same (post id, reviewer, time)."""


@dataclass(frozen=True)
class StoreResult:
    """What happened to one correction: ``stored`` (new) or ``duplicate`` (already there)."""

    status: str
    correction_id: int


def _project_root(start: Path | None = None) -> Path:
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() or (folder / ".git").exists():
            return folder
    return here


def resolve_feedback_url(url: str | None = None) -> str:
    """An explicit URL, else ``$TRIAGE_FEEDBACK_URL``, else the project's SQLite file.

    ``postgresql://`` and ``postgres://`` URLs use the psycopg (3) driver.
    """
    url = (url or os.environ.get(URL_ENV) or "").strip()
    if not url:
        return f"sqlite:///{_project_root() / DEFAULT_FILE}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unreadable URL>"


def _naive_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def _engine(url: str):
    from sqlalchemy import create_engine, event
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_connection, _record) -> None:
                # transactions are ours (BEGIN IMMEDIATE below), not the sqlite3 module's
                dbapi_connection.isolation_level = None
                cursor = dbapi_connection.cursor()
                for pragma in (
                    "journal_mode=WAL",
                    "synchronous=FULL",
                    f"busy_timeout={BUSY_TIMEOUT_MS}",
                    "foreign_keys=ON",
                    "secure_delete=ON",
                ):
                    cursor.execute(f"PRAGMA {pragma}")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn) -> None:
                # take the write lock at the start: a deferred transaction that upgrades to a
                # writer later fails with "database is locked" instead of waiting
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        if url.startswith("postgresql"):
            require("psycopg", "feedback", "a PostgreSQL feedback store")
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ValueError) as err:
        raise FeedbackStoreError(
            f"cannot use the feedback store URL {_safe_url(url)} ({err}); set {URL_ENV} to "
            "sqlite:///path/feedback.db or postgresql://user:password@host:5432/database"
        ) from None


def open_store(url: str | None = None, *, migrate: bool = True) -> FeedbackStore:
    """The store at ``url`` (see :func:`resolve_feedback_url`), migrated to the newest schema."""
    require("sqlalchemy", "feedback", "the feedback store")
    require("alembic", "feedback", "the feedback store")
    resolved = resolve_feedback_url(url)
    if resolved.startswith("sqlite:///") and resolved != "sqlite:///:memory:":
        Path(resolved[len("sqlite:///") :]).expanduser().parent.mkdir(parents=True, exist_ok=True)
    store = FeedbackStore(_engine(resolved), resolved)
    if migrate:
        store.migrate()
    return store


class FeedbackStore:
    """Corrections in a database: record, erase, export. Safe to share between threads."""

    def __init__(self, engine, url: str) -> None:
        self.engine = engine
        self.url = _safe_url(url)

    def __repr__(self) -> str:
        return f"FeedbackStore({self.url})"

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _fail(self, action: str, err: Exception) -> FeedbackStoreError:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0][:300]
        return FeedbackStoreError(f"feedback store {self.url}: cannot {action} ({reason})")

    def migrate(self) -> None:
        """Bring the schema to the newest migration (several processes may call this at once)."""
        from alembic import command
        from alembic.config import Config
        from sqlalchemy import text
        from sqlalchemy.exc import SQLAlchemyError

        config = Config()
        config.set_main_option("script_location", "triage_ml.feedback:migrations")
        try:
            with self.engine.begin() as conn:
                if self.dialect == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except SQLAlchemyError as err:
            raise self._fail("create or upgrade its tables", err) from None

    def schema_version(self) -> str | None:
        from sqlalchemy import text

        from triage_ml.feedback.schema import VERSION_TABLE

        with self.engine.connect() as conn:
            return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()

    def _insert(self, table):
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # pragma: no cover - only the two dialects are supported
            raise FeedbackStoreError(
                f"feedback store {self.url}: {self.dialect} is not supported; "
                "use SQLite or PostgreSQL"
            )
        return insert(table)

    def record(self, correction: dict[str, Any]) -> StoreResult:
        """Store one validated correction (:func:`~triage_ml.feedback.validate_correction`).

        Returns ``stored`` for a new correction and ``duplicate`` for a retry of one already
        stored; raises :class:`CorrectionConflict` when another correction with the same
        post id, reviewer and ``corrected_at`` but different content is stored.
        """
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from triage_ml.feedback.schema import corrections, posts

        now = datetime.now(UTC).replace(tzinfo=None)
        post = {
            "post_id": correction["id"],
            "text": correction["text"],
            "created_at": _naive_utc(correction.get("created_at")),
            "channel": correction.get("channel"),
            "author_followers": correction.get("author_followers"),
            "author_verified": correction.get("author_verified"),
            "updated_at": now,
        }
        row = {
            "post_id": correction["id"],
            "reviewer": correction["reviewer"],
            "corrected_at": _naive_utc(correction["corrected_at"]),
            "labels": correction.get("labels"),
            "urgency": correction.get("urgency"),
            "model_version": correction["model_version"],
            "request_id": correction.get("request_id"),
            "received_at": now,
        }
        key = (
            (corrections.c.post_id == row["post_id"])
            & (corrections.c.reviewer == row["reviewer"])
            & (corrections.c.corrected_at == row["corrected_at"])
        )
        try:
            with self.engine.begin() as conn:
                upsert = self._insert(posts).values(**post)
                updated = {k: v for k, v in post.items() if k != "post_id"}
                conn.execute(upsert.on_conflict_do_update(index_elements=["post_id"], set_=updated))
                added = conn.execute(
                    self._insert(corrections)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=["post_id", "reviewer", "corrected_at"])
                )
                found = conn.execute(
                    select(
                        corrections.c.id,
                        corrections.c.labels,
                        corrections.c.urgency,
                        corrections.c.model_version,
                    ).where(key)
                ).one()
                if added.rowcount == 1:
                    return StoreResult("stored", int(found.id))
                same = (found.labels, found.urgency, found.model_version) == (
                    row["labels"],
                    row["urgency"],
                    row["model_version"],
                )
                if not same:
                    raise CorrectionConflict(
                        f"another correction of post {row['post_id']!r} by "
                        f"{row['reviewer']!r} at {row['corrected_at'].isoformat()}Z is already "
                        "stored with different labels, urgency or model_version; a correction "
                        "is identified by (id, reviewer, corrected_at): send a new corrected_at "
                        "for a new correction",
                        column="corrected_at",
                    )
                return StoreResult("duplicate", int(found.id))
        except SQLAlchemyError as err:
            raise self._fail("store the correction", err) from None

    def delete_post(self, post_id: str) -> dict[str, int]:
        """Erase a post: its text and metadata and every correction of it.

        On SQLite, deleted content is overwritten (``secure_delete``) and the write-ahead log
        is checkpointed and truncated, so the text is gone from the files, not only hidden.
        """
        from sqlalchemy import delete, text
        from sqlalchemy.exc import SQLAlchemyError

        from triage_ml.feedback.schema import corrections, posts

        try:
            with self.engine.begin() as conn:
                n_corr = conn.execute(
                    delete(corrections).where(corrections.c.post_id == post_id)
                ).rowcount
                n_posts = conn.execute(delete(posts).where(posts.c.post_id == post_id)).rowcount
            if self.dialect == "sqlite":  # outside a transaction: the driver is in autocommit
                raw = self.engine.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    raw.close()
            elif self.dialect == "postgresql" and n_posts:
                # dead row versions keep the text until vacuumed; vacuum both tables now
                with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM feedback_corrections"))
                    conn.execute(text("VACUUM feedback_posts"))
        except SQLAlchemyError as err:
            raise self._fail(f"erase post {post_id!r}", err) from None
        return {"corrections": int(n_corr), "posts": int(n_posts)}

    def corrected_ids(self) -> list[str]:
        """The ids of the posts that have at least one correction (no text is read)."""
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from triage_ml.feedback.schema import corrections

        try:
            with self.engine.connect() as conn:
                rows = conn.execute(select(corrections.c.post_id).distinct()).all()
        except SQLAlchemyError as err:
            raise self._fail("read the corrected post ids", err) from None
        return [str(r[0]) for r in rows]

    def corrections(self, since: datetime | None = None) -> pd.DataFrame:
        """Every stored correction with its post, oldest first (one row per correction)."""
        from sqlalchemy import select
        from sqlalchemy.exc import SQLAlchemyError

        from triage_ml.feedback.schema import corrections, posts

        query = (
            select(
                corrections.c.id.label("correction_id"),
                posts.c.post_id.label("id"),
                posts.c.text,
                posts.c.created_at,
                posts.c.channel,
                posts.c.author_followers,
                posts.c.author_verified,
                corrections.c.labels,
                corrections.c.urgency,
                corrections.c.reviewer,
                corrections.c.corrected_at,
                corrections.c.model_version,
                corrections.c.request_id,
                corrections.c.received_at,
            )
            .join(posts, posts.c.post_id == corrections.c.post_id)
            .order_by(corrections.c.corrected_at, corrections.c.id)
        )
        if since is not None:
            query = query.where(corrections.c.corrected_at >= _naive_utc(since))
        try:
            with self.engine.connect() as conn:
                rows = conn.execute(query).mappings().all()
        except SQLAlchemyError as err:
            raise self._fail("read the corrections", err) from None
        columns = list(query.selected_columns.keys())
        return pd.DataFrame([dict(r) for r in rows], columns=columns)

    def export(self, since: datetime | None = None) -> pd.DataFrame:
        """The corrections since ``since`` as a labelled history with provenance, one row per post.

        Per post, the newest labels correction and the newest urgency correction win (an agent
        may correct only one of them); ``reviewer``, ``corrected_at`` and ``model_version`` are
        those of the post's newest correction, and ``corrected_fields`` says which of
        ``labels`` and ``urgency`` the row corrects (``labels;urgency`` for both), so a CSV,
        where an empty labels cell means "none of the labels", keeps the difference between
        "corrected to none" and "not corrected".
        """
        raw = self.corrections(since)
        if raw.empty:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in _EXPORT_COLUMNS})
        latest = raw.groupby("id", sort=False).tail(1).set_index("id")
        labels = raw[raw["labels"].notna()].groupby("id").tail(1).set_index("id")["labels"]
        urgency = raw[raw["urgency"].notna()].groupby("id").tail(1).set_index("id")["urgency"]
        out = latest.drop(columns=["labels", "urgency"])
        out["labels"] = labels.reindex(out.index)
        out["urgency"] = urgency.reindex(out.index).astype("float64")
        has_labels, has_urgency = out["labels"].notna(), out["urgency"].notna()
        out["corrected_fields"] = np.select(
            [has_labels & has_urgency, has_labels, has_urgency],
            ["labels;urgency", "labels", "urgency"],
            "",
        )
        out = out.reset_index().sort_values(["corrected_at", "correction_id"], kind="stable")
        for column in ("created_at", "corrected_at"):
            out[column] = pd.to_datetime(out[column]).dt.tz_localize("UTC")
        out["author_followers"] = out["author_followers"].astype("Float64").astype("float64")
        return out[list(_EXPORT_COLUMNS)].reset_index(drop=True)

    def close(self) -> None:
        self.engine.dispose()
