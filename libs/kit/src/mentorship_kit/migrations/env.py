"""The Alembic environment of every service. Alembic runs this file; never import it.

Everything it needs — the open connection, the service's tables and version table, the
callbacks that log each applied revision — is set up by ``mentorship_kit.migrations``
(``mentorship migrate``, and a service at start-up), which hands it over through the
Alembic configuration. There is no offline (``--sql``) mode.
"""

from alembic import context

from mentorship_kit.migrations import environment_options

context.configure(**environment_options(context.config))
with context.begin_transaction():
    context.run_migrations()
