"""Alembic migrations of the Steward schema, shipped inside the package."""
