"""Who may do what: roles, local accounts with argon2id passwords, and scoped API tokens."""
