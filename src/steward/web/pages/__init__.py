"""Routers of the web pages, one module per area of the pathway."""
