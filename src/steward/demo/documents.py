"""Texts of the demo's evidence documents (Markdown), written per evidence type and product."""

from __future__ import annotations

from steward.demo.catalogue import Product

_BODIES: dict[str, str] = {
    "dpia": (
        "## Processing\n{tool} processes pseudonymised patient data ({inputs}) under UK GDPR "
        "Article 6(1)(e) and Article 9(2)(h). Data stay in UK data centres.\n\n"
        "## Risks and mitigations\n| Risk | Mitigation | Residual |\n|---|---|---|\n"
        "| Re-identification | Pseudonymised feed, role-based access | Low |\n"
        "| Function creep | Purpose limited by contract schedule 3 | Low |\n"
        "| Supplier access | Support access logged and time-limited | Low |\n\n"
        "## Outcome\nApproved by the Data Protection Officer; review in 12 months."
    ),
    "clinical_safety_case": (
        "## Scope\nDeployment of {tool} in {setting} under DCB0160.\n\n"
        "## Clinical risk management\nHazards were identified at a workshop with clinicians, "
        "the supplier's Clinical Safety Officer and a patient representative; they are held in "
        "the hazard log of this tool.\n\n## Conclusion\nWith the controls in the hazard log in "
        "place, the residual clinical risk is acceptable for the next stage."
    ),
    "security_review": (
        "## Findings\n- Cyber Essentials Plus certificate verified.\n- CREST penetration test "
        "reviewed: no high or critical findings; two medium findings fixed and retested.\n"
        "- Network integration through the trust's integration engine only.\n\n"
        "## Outcome\nNo security objection to the next stage."
    ),
    "dtac": "## DTAC submission\nThe supplier's completed DTAC for {tool}; answers are "
    "recorded in the assessment of this tool.",
    "silent_pilot_report": (
        "## Silent pilot\n{tool} ran for 12 weeks in {setting} without its output being shown "
        "to clinicians. Availability 99.7%; median latency 40 seconds.\n\n"
        "## Findings\nAlerts would have reached the team a median of 3.5 hours before the "
        "current escalation; alert burden about 4 per ward per day."
    ),
    "business_case": (
        "## Costs\nLicence, integration and training: see the finance appendix.\n\n"
        "## Benefits\nEarlier recognition, fewer unplanned ICU admissions; break-even expected "
        "in year two."
    ),
    "contract": "## Contract summary\nContract for {tool}: liability, indemnity, data processing "
    "schedule, service levels and exit plan.",
    "training_material": "## Training\nTwenty-minute e-learning module and a one-page quick "
    "reference card for {users}",
    "hazard_log_export": "## Hazard log\nExport of the hazard log of {tool} for the committee.",
}


def evidence_text(kind: str, product: Product, organisation: str, author: str) -> bytes:
    """A short, realistic Markdown document of evidence type ``kind`` for ``product``."""
    body = _BODIES[kind].format(
        tool=f"{product.name} {product.version}",
        inputs=product.inputs.rstrip("."),
        setting=product.care_setting.lower(),
        users=product.users.lower(),
    )
    text = (
        f"**Tool:** {product.name} {product.version} ({product.supplier})  \n"
        f"**Organisation:** {organisation}  \n**Prepared by:** {author}\n\n{body}\n\n"
        "_Demonstration document: fictional organisation and product, synthetic data._\n"
    )
    return text.encode("utf-8")
