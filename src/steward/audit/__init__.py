"""The tamper-evident audit trail: every change, in the same transaction, in a hash chain."""
