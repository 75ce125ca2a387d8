"""Running monitors on schedule: due runs stored as rows, claimed by one worker at a time."""
