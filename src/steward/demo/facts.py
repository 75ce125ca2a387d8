"""Model facts (HTI-1, CHAI model card) and DTAC answers for a demo product, full or partial.

Partial cards are what a committee holds early on: the supplier's summary without validation and
maintenance details, so the completeness shown by the registry is visibly below 100%.
"""

from __future__ import annotations

from typing import Any

from steward.demo.catalogue import SUPPLIERS, Product

_PARTIAL_HTI1_GROUPS = 3  # details, purpose and cautioned uses: what a brochure states


def hti1_facts(product: Product, *, complete: bool) -> dict[str, str]:
    """HTI-1 source attributes; ``complete=False`` fills only the supplier's first three groups."""
    groups: list[dict[str, str]] = [
        {
            "developer": f"{product.supplier} ({SUPPLIERS[product.supplier]})",
            "funding_source": "Commercial product funded by the developer",
            "output_value": product.output_value,
            "output_type": product.output_type,
        },
        {
            "intended_use": product.intended_use,
            "intended_patient_population": product.population,
            "intended_users": product.users,
            "decision_making_role": product.decision_role,
        },
        {
            "out_of_scope_use": product.out_of_scope,
            "known_risks_and_limitations": product.known_risks,
        },
        {
            "training_inclusion_exclusion": product.training_data,
            "demographic_and_sdoh_inputs": product.inputs,
            "training_data_representativeness": (
                "Age and sex mix reported; ethnicity recorded for 91% of the training data."
            ),
            "training_data_relevance": "English NHS hospitals with similar case mix.",
        },
        {
            "fair_output_approach": "Performance reported by age band, sex and ethnicity.",
            "bias_management": "Subgroup recalibration offered at deployment; monitored yearly.",
        },
        {
            "external_data_source": product.external_validation or "Not yet available",
            "external_testers": "Independent academic group",
            "external_data_representativeness": "Comparable to the local population (2021 Census)",
            "external_validation_process": "Retrospective, pre-registered analysis plan",
        },
        {
            "validity_same_source": "Reported in the supplier's technical file (section 7)",
            "fairness_same_source": "Reported by sex and age band; ethnicity partly reported",
            "validity_external": product.external_validation or "Not yet available",
            "fairness_external": "Subgroup results in the external validation supplement",
            "outcome_evaluation_references": "None yet on patient outcomes",
        },
        {
            "validity_monitoring": "Monthly calibration and discrimination report by Steward",
            "validity_local": "Local validation before go-live (see the evaluations)",
            "fairness_monitoring": "Quarterly equity audit by sex, age band and ethnicity",
            "fairness_local": "Local equity audit before go-live (see the evaluations)",
        },
        {
            "update_frequency": "Minor versions quarterly; each is revalidated locally",
            "risk_correction_frequency": "Safety corrections within 30 days of a confirmed risk",
        },
    ]
    chosen = groups if complete else groups[:_PARTIAL_HTI1_GROUPS]
    return {name: value for group in chosen for name, value in group.items()}


def chai_card(product: Product, *, complete: bool) -> dict[str, Any]:
    """A CHAI Applied Model Card; ``complete=False`` stops after the uses and directions."""
    card: dict[str, Any] = {
        "BasicInfo": {
            "ModelName": product.name,
            "ModelDeveloper": product.supplier,
            "DeveloperContact": SUPPLIERS[product.supplier],
        },
        "ReleaseInfo": {
            "ReleaseStage": "Generally available",
            "ReleaseDate": "2025-09-01",
            "ReleaseVersion": product.version,
            "GlobalAvailability": "United Kingdom and European Union",
            "RegulatoryApproval": product.device_class,
        },
        "ModelSummary": {"Summary": product.intended_use, "Keywords": product.care_setting},
        "UsesAndDirections": {
            "IntendedUseAndWorkflow": product.intended_use,
            "PrimaryIntendedUsers": product.users,
            "HowToUse": "Shown in the electronic patient record; the clinician decides.",
            "TargetedPatientPopulation": product.population,
            "CautionedOutOfScopeSettings": product.out_of_scope,
        },
    }
    if not complete:
        return card
    card["Warnings"] = {
        "KnownRisksAndLimitations": product.known_risks,
        "KnownBiasesOrEthicalConsiderations": "Subgroup calibration to be confirmed locally.",
        "ClinicalRiskLevel": "Moderate: informs clinical decisions that remain with clinicians",
    }
    card["TrustIngredients"] = {
        "OutcomesAndOutputs": product.output_value,
        "ModelType": product.model_type,
        "InputDataSource": "Electronic patient record",
        "OutputAndInputDataTypes": product.inputs,
        "DevelopmentDataCharacterization": product.training_data,
        "BiasMitigationApproaches": "Subgroup reporting and optional local recalibration",
        "OngoingMaintenance": "Quarterly releases, each revalidated locally before use",
        "FundingSource": "Commercial",
        "StakeholdersConsulted": "Clinicians, patients' panel, clinical safety officers",
    }
    card["KeyMetrics"] = {
        "UsefulnessUsabilityEfficacy": [_metric("Discrimination", product.external_validation)],
        "FairnessEquity": [_metric("Calibration by ethnicity", "Reported for the largest groups")],
        "SafetyReliability": [_metric("Missed high-risk cases", "Below the agreed threshold")],
    }
    card["Resources"] = {
        "EvaluationReferences": "Supplier technical file; local validation in Steward",
        "ClinicalTrial": "None",
        "PeerReviewedPublications": "External validation (2024)",
        "ReimbursementStatus": "Local contract",
        "PatientConsentOrDisclosure": "Covered by the trust's privacy notice",
    }
    card["Bibliography"] = "Supplier technical file, version " + product.version
    return card


def _metric(goal: str, result: str) -> dict[str, str]:
    return {
        "MetricGoal": goal,
        "Results": result or "Not yet available",
        "Interpretation": "Meets the committee's acceptance criteria",
        "TestType": "Retrospective external validation",
        "TestingDataDescription": "Independent NHS data not used in development",
        "ValidationProcessAndJustification": "Pre-registered analysis plan",
    }


def dtac_answers(product: Product, section: str) -> dict[str, str]:
    """Answers to one DTAC section ("core", "data_protection" or "security") for ``product``."""
    contact = SUPPLIERS[product.supplier]
    answers = {
        "core": {
            "A1": f"{product.supplier}, registered in England and Wales; contact {contact}",
            "A2": "Five years trading; used by seven NHS trusts",
            "B1": product.users,
            "B2": product.external_validation or "Benefits claimed, not yet validated",
            "B3": "Data flow diagram in the supplier's DTAC submission, section B3",
            "C1.1": "DCB0129 clinical safety case report, issue 4, signed by the supplier's CSO",
            "C1.2": "Supplier hazard log supplied (42 hazards, none above risk level 3)",
            "C1.3": "Named CSO: the supplier's Chief Medical Officer (GMC registered)",
            "C1.4": product.device_class,
            "C4.1": "FHIR R4 Observation and RiskAssessment resources; HL7 v2 ADT feed",
            "C4.2": "NHS number used as the patient identifier",
            "D1": "WCAG 2.1 AA audit report (2025), two minor issues open",
            "D2": "99.5% availability in working hours; four-hour response to P1 incidents",
        },
        "data_protection": {
            "C2.1": "DSPT 2024/25: Standards Met",
            "C2.2": "DPIA completed with the trust; signed by the DPO",
            "C2.3": "UK data centres (London and Manchester); no transfer outside the UK",
        },
        "security": {
            "C3.1": "Cyber Essentials Plus, certificate valid to 2026",
            "C3.2": "CREST penetration test (OWASP Top 10) in the last 12 months; no high findings",
            "C3.3": "MFA enforced for every privileged account",
            "C3.4": "Immutable audit log of access and configuration changes",
            "C3.5": "Load tested at three times the expected peak",
        },
    }
    return answers[section]
