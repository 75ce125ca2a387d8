"""FHIR R4 (``fhir.resources.R4B``): reading predictions, outcomes and opt-outs from resources and
Bundles, and writing tools and their outputs as AI Transparency on FHIR resources."""
