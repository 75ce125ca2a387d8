"""Integration with patient records: CDS Hooks, FHIR, patient opt-outs and model-card exports."""
