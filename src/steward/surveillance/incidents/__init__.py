"""AI safety incidents: the record, its links to alerts and hazards, and regulatory exports."""
