"""Post-deployment surveillance: ingestion, window cubes, monitors and alerts.

See docs/surveillance.md.
"""
