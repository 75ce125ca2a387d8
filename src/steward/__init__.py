"""Steward: safe adoption of clinical AI, from proposal to withdrawal."""

__version__ = "0.1.0"
