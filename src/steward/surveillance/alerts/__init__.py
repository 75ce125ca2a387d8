"""Alerts raised by monitors: one record per monitor, subject and window, and its state changes."""
