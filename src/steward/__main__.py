"""``python -m steward`` runs the command line."""

from steward.cli.main import run

run()
