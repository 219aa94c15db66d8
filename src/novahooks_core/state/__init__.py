"""Durable and bounded state shared by plugins: :mod:`.db` (SQLAlchemy
engines, units of work, migrations), :mod:`.spool` (writes kept while the
database is unavailable), :mod:`.journal` (an append-only file of JSON
lines) and :mod:`.lru` (a bounded memory).

Import the modules themselves: this package imports nothing, so
:mod:`.lru` and :mod:`.journal` never load SQLAlchemy (only :mod:`.db` and
:mod:`.spool` need the plugins' extras).
"""
