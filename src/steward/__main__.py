"""``python -m steward`` runs the command line."""

from steward.cli.main import app

app()
