"""The REST API shell (FastAPI): thin routers over the registry; one transaction per request."""
