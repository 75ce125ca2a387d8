"""Persistence shell: engine, transactions, the declarative base and the Alembic migrations.

SQLite (the embedded default) and PostgreSQL run from the same models and migrations.
"""
