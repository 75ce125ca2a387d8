"""The demonstration region: organisations, people, tools at every lifecycle stage, evaluations
and pending approvals, seeded through the registry's own services."""
