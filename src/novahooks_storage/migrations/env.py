"""Alembic environment: run by novahooks_storage.migrate on a connection."""

from alembic import context

context.configure(connection=context.config.attributes['connection'],
                  version_table='storage_alembic_version')
with context.begin_transaction():
    context.run_migrations()
