"""Alembic environment: run by novahooks_core.db.upgrade on a connection."""

from alembic import context

context.configure(
    connection=context.config.attributes['connection'],
    version_table=context.config.attributes['version_table'])
with context.begin_transaction():
    context.run_migrations()
