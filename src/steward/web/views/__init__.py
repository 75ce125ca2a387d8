"""What the pages show, gathered from the registry in a few queries per page (no query per row)."""
