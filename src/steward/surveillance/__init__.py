"""Post-deployment surveillance: ingestion of predictions, outcomes and clinician feedback,
outcome linkage with label delay, incremental window cubes, monitors and alerts.

``ingest`` is the service API other capabilities call (the API routes, FHIR import, the CDS Hooks
gateway); ``windows`` is the read API of the stored window cubes. See docs/surveillance.md.
"""
