"""The demo's suppliers and products: what each tool does, for whom, and what is known about it.

Fictional companies and products; the texts are written as a governance committee would see them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Product:
    """One AI product as its supplier and the proposing clinician describe it."""

    name: str
    supplier: str
    version: str
    problem: str
    intended_use: str
    population: str
    users: str
    output_value: str
    output_type: str  # an HTI-1 output type
    decision_role: str  # informs, augments or replaces
    inputs: str
    model_type: str
    training_data: str
    external_validation: str
    known_risks: str
    out_of_scope: str
    device_class: str
    care_setting: str


SUPPLIERS: dict[str, str] = {
    "Aldermoor Analytics Ltd": "clinical.safety@aldermoor-analytics.example",
    "Lumen Radiology Systems Ltd": "regulatory@lumen-radiology.example",
    "Kestrel Clinical AI Ltd": "support@kestrel-clinical.example",
    "Parkway Health Software Ltd": "nhs@parkway-health.example",
    "Halcyon Digital Health Ltd": "hello@halcyon-digital.example",
    "Brightpath Wellbeing Ltd": "partners@brightpath-wellbeing.example",
}

DEWS = Product(
    name="Aldermoor DEWS",
    supplier="Aldermoor Analytics Ltd",
    version="3.2",
    problem=(
        "Deteriorating adult inpatients are recognised late on medical wards: NEWS2 alone misses "
        "a third of unplanned ICU admissions until the last observation set."
    ),
    intended_use=(
        "Estimates each adult inpatient's risk of unplanned ICU admission, cardiac arrest or death "
        "within 24 hours from observations, blood results and demographics, refreshed hourly, to "
        "prompt an earlier review by the ward team or the critical care outreach team."
    ),
    population="Adults (18 and over) admitted to acute medical and surgical wards.",
    users="Ward nurses, resident doctors and the critical care outreach team.",
    output_value="A risk of deterioration within 24 hours (0-100%) with the three main drivers.",
    output_type="prediction",
    decision_role="informs",
    inputs=(
        "Vital signs (NEWS2 parameters), full blood count, urea and electrolytes, lactate, age, "
        "sex and admission route. Ethnicity and deprivation are not inputs."
    ),
    model_type="Gradient-boosted trees with isotonic recalibration",
    training_data=(
        "412,000 admissions to four English acute trusts, 2019-2022; adults only; excludes "
        "maternity, palliative care and patients with a do-not-attempt-resuscitation order."
    ),
    external_validation=(
        "Two NHS trusts not used in development (2023, 96,000 admissions): AUROC 0.82 "
        "(0.81-0.83), calibration slope 0.97; validation by the University of Aldermoor."
    ),
    known_risks=(
        "Under-estimates risk where observations are recorded late; less accurate in patients "
        "with chronic hypoxaemia; subgroup calibration by ethnicity was not reported."
    ),
    out_of_scope="Children, maternity, emergency department, end-of-life care.",
    device_class="UKCA class IIa medical device (MHRA registered)",
    care_setting="Acute medical wards",
)

SEPSIS = Product(
    name="Sepsis Sentinel",
    supplier="Kestrel Clinical AI Ltd",
    version="2.4",
    problem=(
        "Time to antibiotics for suspected sepsis in the emergency department exceeds one hour "
        "for 38% of patients; recognition at triage is the main delay."
    ),
    intended_use=(
        "Flags adult emergency department patients at high risk of sepsis-related deterioration "
        "at triage and every 30 minutes, to prompt the sepsis screening tool and senior review."
    ),
    population="Adults attending the emergency department.",
    users="Emergency department nurses and doctors.",
    output_value="A sepsis-related deterioration risk with a high-risk flag above 10%.",
    output_type="classification",
    decision_role="augments",
    inputs="Triage observations, lactate, white cell count, presenting complaint, age and sex.",
    model_type="Logistic regression with splines, recalibrated per site",
    training_data="1.1 million ED attendances at six trusts, 2018-2023.",
    external_validation="Prospective silent evaluation at two trusts (2024): AUROC 0.79.",
    known_risks="Alert fatigue if the threshold is lowered; unreliable without a lactate.",
    out_of_scope="Children, pregnant patients, neutropenic sepsis pathways.",
    device_class="UKCA class IIa medical device (MHRA registered)",
    care_setting="Emergency department",
)

FRACTURE = Product(
    name="FractureFinder",
    supplier="Lumen Radiology Systems Ltd",
    version="2.1",
    problem=(
        "Overnight, emergency department doctors interpret limb X-rays without a radiologist; "
        "4% of fractures are missed and recalled after the next-day report."
    ),
    intended_use=(
        "Marks suspected fractures on appendicular and pelvic X-rays within two minutes of "
        "acquisition, as a second reader for the emergency department clinician."
    ),
    population="Patients aged 2 and over with appendicular or pelvic X-rays.",
    users="Emergency department clinicians, reporting radiographers and radiologists.",
    output_value="Boxes around suspected fractures and a per-study flag (fracture / no fracture).",
    output_type="classification",
    decision_role="augments",
    inputs="DICOM images only; no demographic inputs.",
    model_type="Convolutional neural network (object detection)",
    training_data="310,000 studies from 11 hospitals in three countries, labelled by radiologists.",
    external_validation="Multi-reader study, 480 studies, 24 readers (published 2024).",
    known_risks="Lower sensitivity for scaphoid and subtle paediatric buckle fractures.",
    out_of_scope="Skull, spine and chest imaging; children under 2.",
    device_class="UKCA class IIa medical device (MHRA registered)",
    care_setting="Emergency department and radiology",
)

CHESTVIEW = Product(
    name="ChestView CXR triage",
    supplier="Lumen Radiology Systems Ltd",
    version="1.8",
    problem="Chest X-rays from GP referrals wait up to 21 days for a report; lung cancers are "
    "among them.",
    intended_use=(
        "Prioritises the chest X-ray reporting worklist by flagging studies with suspected "
        "lung nodules, masses, pneumothorax or consolidation for reporting first."
    ),
    population="Adults having a chest X-ray referred by primary care or outpatients.",
    users="Radiologists and reporting radiographers.",
    output_value="A worklist priority (urgent / routine) with the suspected findings.",
    output_type="classification",
    decision_role="informs",
    inputs="DICOM images only.",
    model_type="Convolutional neural network (multi-label classification)",
    training_data="2.4 million chest X-rays from 14 sites in the UK and Europe.",
    external_validation="Retrospective evaluation at three NHS trusts (2023).",
    known_risks=(
        "Worklist effects: routine studies may wait longer; lower accuracy on portable films."
    ),
    out_of_scope="Inpatient and portable chest X-rays; children.",
    device_class="UKCA class IIa medical device (MHRA registered)",
    care_setting="Radiology reporting",
)

SCRIBE = Product(
    name="ScribeAssist",
    supplier="Parkway Health Software Ltd",
    version="1.4",
    problem="Outpatient clinic letters take a median of 18 days to reach GPs; consultants spend "
    "two hours a week dictating.",
    intended_use=(
        "Ambient voice technology: listens to the outpatient consultation (with consent) and "
        "drafts the clinic letter for the clinician to edit and approve."
    ),
    population="Adult outpatients who consent to the recording.",
    users="Outpatient consultants and specialist nurses.",
    output_value="A draft clinic letter and coded problem list.",
    output_type="recommendation",
    decision_role="informs",
    inputs="Audio of the consultation; the appointment's demographics.",
    model_type="Speech recognition and a large language model (third-party foundation model)",
    training_data="Not disclosed by the supplier (foundation model); fine-tuned on NHS letters.",
    external_validation="",
    known_risks="Omitted or invented content (hallucination); consent and recording governance.",
    out_of_scope="Consultations without consent; interpreters; children.",
    device_class="Supplier states not a medical device (to be confirmed with MHRA guidance)",
    care_setting="Outpatient clinics",
)

FLOWCAST = Product(
    name="FlowCast discharge predictor",
    supplier="Halcyon Digital Health Ltd",
    version="1.2",
    problem="Bed managers cannot see expected discharges early enough to plan elective admissions.",
    intended_use="Predicts each medical inpatient's likely discharge date for bed planning.",
    population="Adult medical inpatients.",
    users="Bed managers and discharge coordinators.",
    output_value="A predicted discharge date with a confidence band.",
    output_type="prediction",
    decision_role="informs",
    inputs="Admission diagnosis, length of stay so far, therapy referrals, age.",
    model_type="Survival model (gradient-boosted)",
    training_data="180,000 admissions at two trusts, 2017-2021.",
    external_validation="None published.",
    known_risks="Unreliable after service reconfiguration; no fairness analysis.",
    out_of_scope="Surgical and maternity wards.",
    device_class="Not a medical device (operational planning)",
    care_setting="Bed management",
)

MINDMATE = Product(
    name="MindMate triage chatbot",
    supplier="Brightpath Wellbeing Ltd",
    version="0.9",
    problem="Staff wellbeing service waiting times.",
    intended_use="Conversational agent triaging staff who ask for mental health support.",
    population="Trust staff.",
    users="Staff self-referring to wellbeing services.",
    output_value="A triage category and signposting.",
    output_type="recommendation",
    decision_role="replaces",
    inputs="Free-text conversation.",
    model_type="Large language model",
    training_data="Not disclosed.",
    external_validation="None.",
    known_risks="Missed risk of self-harm; no clinical oversight of individual conversations.",
    out_of_scope="Crisis presentations.",
    device_class="Not registered with the MHRA",
    care_setting="Staff wellbeing service",
)
