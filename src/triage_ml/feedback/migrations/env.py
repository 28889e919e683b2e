"""Alembic's entry point for the feedback store: runs on the connection the store hands over
(``config.attributes["connection"]``), inside the store's transaction."""

from alembic import context

from triage_ml.feedback.schema import VERSION_TABLE, metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
