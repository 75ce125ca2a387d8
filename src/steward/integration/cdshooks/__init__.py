"""The CDS Hooks 2.0 gateway: governed discovery, calls and feedback between EHRs and suppliers."""
