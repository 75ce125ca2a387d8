"""Notifications about alerts: one transport contract, one module per channel, delivery rows."""
