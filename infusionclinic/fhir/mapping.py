"""Map the chart to FHIR R4 resources. This module only maps: it reads what the selectors give it
and returns plain dicts that `validate` checks with the fhir.resources models.

Codes: ../shared/domain/codes.md (CODE-V10 height 8302-2 cm, CODE-V11 weight 29463-7 kg, UCUM
units; ICD-10-CM system for Condition). Later capabilities (vitals, scores, orders,
administrations, encounters, appointments) add their mappers to RESOURCES in `resources.py`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from infusionclinic.patients.icd10 import SYSTEM_URI as ICD10CM
from infusionclinic.patients.models import BodyMeasurement, Diagnosis, MeasurementKind, Patient

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

# codes.md CODE-V10, CODE-V11
BODY_MEASUREMENT_CODES = {
    MeasurementKind.WEIGHT: ("29463-7", "Body weight", "kg"),
    MeasurementKind.HEIGHT: ("8302-2", "Body height", "cm"),
}
FHIR_GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}


def mrn_system() -> str:
    return settings.FHIR_MRN_SYSTEM


def patient_reference(patient_id: int) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def patient_resource(patient: Patient) -> dict[str, Any]:
    names: list[dict[str, Any]] = [
        {"use": "official", "family": patient.family_name, "given": [patient.given_name]}
    ]
    if patient.preferred_name:
        names.append(
            {"use": "usual", "family": patient.family_name, "given": [patient.preferred_name]}
        )
    telecom = [
        {"system": system, "value": value, "use": "home" if system == "phone" else None}
        for system, value in (("phone", patient.phone), ("email", patient.email))
        if value
    ]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(patient.pk),
        "meta": {"lastUpdated": patient.updated_at.isoformat()},
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                    ]
                },
                "system": mrn_system(),
                "value": patient.mrn,
            }
        ],
        "name": names,
        "gender": FHIR_GENDER.get(patient.sex_at_birth, "unknown"),
        "birthDate": patient.birth_date.isoformat(),
        "telecom": [{k: v for k, v in t.items() if v} for t in telecom],
    }
    if patient.address_line1 or patient.city:
        resource["address"] = [
            {
                "use": "home",
                "line": [line for line in (patient.address_line1, patient.address_line2) if line],
                "city": patient.city or None,
                "state": patient.region or None,
                "postalCode": patient.postal_code or None,
                "country": patient.country or None,
            }
        ]
        resource["address"][0] = {k: v for k, v in resource["address"][0].items() if v}
    if patient.emergency_contact_name:
        resource["contact"] = [
            {
                "relationship": [{"text": patient.emergency_contact_relationship or "Emergency"}],
                "name": {"text": patient.emergency_contact_name},
                "telecom": [{"system": "phone", "value": patient.emergency_contact_phone}]
                if patient.emergency_contact_phone
                else [],
            }
        ]
    if not resource["telecom"]:
        del resource["telecom"]
    return resource


def condition_resource(diagnosis: Diagnosis) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": str(diagnosis.pk),
        "meta": {"lastUpdated": diagnosis.updated_at.isoformat()},
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
        "category": [{"coding": [{"system": CONDITION_CATEGORY, "code": "problem-list-item"}]}],
        "code": {
            "coding": [
                {"system": ICD10CM, "code": diagnosis.code, "display": diagnosis.description}
            ],
            "text": diagnosis.description,
        },
        "subject": patient_reference(diagnosis.patient_id),
        "recordedDate": diagnosis.created_at.isoformat(),
    }
    if diagnosis.noted_on:
        resource["onsetDateTime"] = diagnosis.noted_on.isoformat()
    return resource


def body_measurement_resource(measurement: BodyMeasurement) -> dict[str, Any]:
    code, display, unit = BODY_MEASUREMENT_CODES[MeasurementKind(measurement.kind)]
    return {
        "resourceType": "Observation",
        "id": f"bm-{measurement.pk}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": display},
        "subject": patient_reference(measurement.patient_id),
        # Measured on a calendar date (the chart keeps dates for weight and height).
        "effectiveDateTime": measurement.measured_on.isoformat(),
        "valueQuantity": {
            "value": float(measurement.value_si),
            "unit": unit,
            "system": UCUM,
            "code": unit,
        },
    }


# CODE-V12: body mass index, kg/m2 (dosing.md WT-4: kg / m²), for each weight with a height
# measured on or before its date (the query annotates `height_cm` and `height_id`).
BMI_CODE = ("39156-5", "Body mass index (BMI) [Ratio]", "kg/m2")


def bmi_resource(weight: Any) -> dict[str, Any]:
    from decimal import ROUND_HALF_UP, Decimal

    from infusionclinic.dosing.calculator import bmi

    code, display, unit = BMI_CODE
    value = bmi(weight_kg=weight.value_si, height_cm=Decimal(weight.height_cm)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    return {
        "resourceType": "Observation",
        "id": f"bmi-{weight.pk}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}], "text": "BMI"},
        "subject": patient_reference(weight.patient_id),
        "effectiveDateTime": weight.measured_on.isoformat(),
        "valueQuantity": {"value": float(value), "unit": unit, "system": UCUM, "code": unit},
        "derivedFrom": [
            {"reference": f"Observation/bm-{weight.pk}"},
            {"reference": f"Observation/bm-{weight.height_id}"},
        ],
    }


# --- Questionnaires (outcomes): QuestionnaireResponse + the total as a survey Observation -------
# codes.md CODE-S1..S6 (LOINC panel and total codes live in each instrument's data file).


def questionnaire_response_resource(assessment: Any) -> dict[str, Any]:
    spec = assessment.instrument.spec
    panel = spec.loinc.get("panel")
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{assessment.pk}",
        "status": "completed",
        "subject": patient_reference(assessment.patient_id),
        "authored": assessment.completed_at.isoformat(),
        "item": [
            {
                "linkId": str(number),
                "answer": [{"valueInteger": value}],
            }
            for number, value in enumerate(assessment.answers, start=1)
            if value is not None
        ],
    }
    # The instrument is named by its LOINC panel where one exists, else by the clinic's code.
    resource["questionnaire"] = (
        f"http://loinc.org/q/{panel}" if panel else f"urn:infusionclinic:instrument:{spec.code}"
    )
    return resource


def score_observation_resource(assessment: Any) -> dict[str, Any]:
    spec = assessment.instrument.spec
    total_code = spec.loinc.get("total")
    # CODE-S7: an instrument with no confirmed LOINC code (MADRS, QIDS-SR16, CADSS, Aldrete,
    # PADSS) is coded in the clinic-local code system until a code is confirmed.
    coding = (
        [{"system": LOINC, "code": total_code, "display": f"{spec.name} total score"}]
        if total_code
        else [{"system": "urn:infusionclinic:instrument", "code": spec.code}]
    )
    return {
        "resourceType": "Observation",
        "id": f"score-{assessment.pk}",
        "status": "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {"coding": coding, "text": f"{spec.name} total score"},
        "subject": patient_reference(assessment.patient_id),
        "effectiveDateTime": assessment.completed_at.isoformat(),
        "valueInteger": assessment.total,
        "derivedFrom": [{"reference": f"QuestionnaireResponse/qr-{assessment.pk}"}],
    }


# --- Dosing orders: MedicationRequest (codes.md CODE-RX1, RxNorm ingredient ketamine) ----------
# CODE-SCT2: no SNOMED CT code is confirmed for the ketamine product or its administration, so
# medications carry RxNorm only (and the bill CPT); no SNOMED coding is sent for them.
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def medication_request_resource(order: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"order-{order.pk}",
        "status": "active" if order.status == "signed" else "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [
                {"system": RXNORM, "code": settings.FHIR_KETAMINE_RXCUI, "display": "ketamine"}
            ],
            "text": "ketamine hydrochloride injection, IV infusion",
        },
        "subject": patient_reference(order.patient_id),
        "authoredOn": (order.signed_at or order.created_at).isoformat(),
        "dosageInstruction": [
            {
                "text": f"{order.dose_mg} mg IV over {order.duration_min} min at "
                f"{order.rate_ml_per_h} mL/h ({order.concentration_mg_per_ml} mg/mL)",
                "route": {"text": "intravenous"},
                "doseAndRate": [
                    {
                        "doseQuantity": {
                            "value": float(order.dose_mg),
                            "unit": "mg",
                            "system": UCUM,
                            "code": "mg",
                        },
                        "rateQuantity": {
                            "value": float(order.rate_ml_per_h),
                            "unit": "mL/h",
                            "system": UCUM,
                            "code": "mL/h",
                        },
                    }
                ],
            }
        ],
    }


# --- Scheduling: Appointment -------------------------------------------------------------------
APPOINTMENT_STATUS = {
    "booked": "booked",
    "cancelled": "cancelled",
    "no_show": "noshow",
    "completed": "fulfilled",
}


def appointment_resource(appointment: Any) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": f"appt-{appointment.pk}",
        "status": APPOINTMENT_STATUS.get(appointment.status, "booked"),
        "serviceType": [{"text": appointment.get_kind_display()}],
        "start": appointment.starts_at.isoformat(),
        "end": appointment.ends_at.isoformat(),
        "participant": [
            {"actor": patient_reference(appointment.patient_id), "status": "accepted"},
            {"actor": {"display": appointment.location.name}, "status": "accepted"},
        ],
    }


# Session vital signs (infusions.VitalSign), codes.md CODE-V2..V8 with UCUM units.
VITAL_CODES: dict[str, tuple[str, str, str]] = {
    "bp": ("85354-9", "Blood pressure panel with all children optional", ""),  # CODE-V2
    "systolic": ("8480-6", "Systolic blood pressure", "mm[Hg]"),  # CODE-V3
    "diastolic": ("8462-4", "Diastolic blood pressure", "mm[Hg]"),  # CODE-V4
    "hr": ("8867-4", "Heart rate", "/min"),  # CODE-V5
    "rr": ("9279-1", "Respiratory rate", "/min"),  # CODE-V6
    "spo2": ("2708-6", "Oxygen saturation in arterial blood", "%"),  # CODE-V7
    "spo2_pulse_ox": (
        "59408-5",
        "Oxygen saturation in arterial blood by pulse oximetry",
        "%",
    ),  # CODE-V8
}


def _coding(key: str) -> dict[str, Any]:
    code, display, _ = VITAL_CODES[key]
    return {"system": LOINC, "code": code, "display": display}


def _quantity(value: int, key: str) -> dict[str, Any]:
    unit = VITAL_CODES[key][2]
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _vital_base(vital: Any, kind: str, codings: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"vs-{kind}-{vital.pk}",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": OBSERVATION_CATEGORY,
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": codings, "text": codings[0]["display"]},
        "subject": patient_reference(vital.session.patient_id),
        "effectiveDateTime": vital.taken_at.isoformat(),
    }


def vital_bp_resource(vital: Any) -> dict[str, Any]:
    """CODE-V2 panel with CODE-V3/V4 components."""
    resource = _vital_base(vital, "bp", [_coding("bp")])
    resource["component"] = [
        {
            "code": {"coding": [_coding("systolic")]},
            "valueQuantity": _quantity(vital.systolic_mmhg, "systolic"),
        },
        {
            "code": {"coding": [_coding("diastolic")]},
            "valueQuantity": _quantity(vital.diastolic_mmhg, "diastolic"),
        },
    ]
    return resource


def vital_hr_resource(vital: Any) -> dict[str, Any]:
    return {
        **_vital_base(vital, "hr", [_coding("hr")]),
        "valueQuantity": _quantity(vital.heart_rate_bpm, "hr"),
    }


def vital_rr_resource(vital: Any) -> dict[str, Any]:
    return {
        **_vital_base(vital, "rr", [_coding("rr")]),
        "valueQuantity": _quantity(vital.respiratory_rate, "rr"),
    }


# CODE-SCT1: the session SpO2 is read by a pulse oximeter (SNOMED CT 448703006, HL7 Vital Signs
# IG); the device is contained in the Observation (the clinic keeps no Device records).
PULSE_OXIMETER = {
    "resourceType": "Device",
    "id": "pulse-oximeter",
    "type": {"coding": [{"system": SNOMED, "code": "448703006", "display": "Pulse oximeter"}]},
}


def vital_spo2_resource(vital: Any) -> dict[str, Any]:
    """CODE-V8: both 2708-6 and 59408-5 codings; CODE-SCT1: measured by a pulse oximeter."""
    resource = _vital_base(vital, "spo2", [_coding("spo2"), _coding("spo2_pulse_ox")])
    return {
        **resource,
        "contained": [PULSE_OXIMETER],
        "device": {"reference": "#pulse-oximeter"},
        "valueQuantity": _quantity(vital.spo2_pct, "spo2"),
    }


VITALS_PANEL = (
    "85353-1",
    "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel",
)  # CODE-V1


def vital_panel_resource(vital: Any) -> dict[str, Any]:
    """CODE-V1: one session reading as the vital-signs panel, whose members are that reading's
    BP, heart rate, respiratory rate and SpO2 Observations."""
    code, display = VITALS_PANEL
    resource = _vital_base(vital, "panel", [{"system": LOINC, "code": code, "display": display}])
    resource["id"] = f"vspanel-{vital.pk}"
    resource["hasMember"] = [
        {"reference": f"Observation/vs-{kind}-{vital.pk}"} for kind in ("bp", "hr", "rr", "spo2")
    ]
    return resource


# --- Infusion sessions: Encounter and MedicationAdministration (codes.md §7) -------------------
ENCOUNTER_STATUS = {
    "scheduled": "planned",
    "checked_in": "arrived",
    "pre_checks": "arrived",
    "infusing": "in-progress",
    "paused": "in-progress",
    "recovering": "in-progress",
    "discharged": "finished",
    "cancelled": "cancelled",
    "no_show": "cancelled",
}


def encounter_resource(session: Any) -> dict[str, Any]:
    period = {"start": (session.checked_in_at or session.scheduled_at).isoformat()}
    if session.discharged_at:
        period["end"] = session.discharged_at.isoformat()
    return {
        "resourceType": "Encounter",
        "id": f"session-{session.pk}",
        "status": ENCOUNTER_STATUS.get(session.state, "planned"),
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "type": [{"text": "IV ketamine infusion"}],
        "subject": patient_reference(session.patient_id),
        "period": period,
        "serviceProvider": {"display": session.location.name},
    }


def medication_administration_resource(session: Any) -> dict[str, Any]:
    """The dose actually given, from the pump's running time and rate (pauses excluded), over the
    period from the first start to the stop (codes.md CODE-PX-R1: from pump events)."""
    from infusionclinic.infusions.dose import dose_given_mg, pump_events

    events = pump_events(session)
    starts = [at for action, at in events if action == "start"]
    stops = [at for action, at in events if action == "stop"]
    period = {"start": starts[0].isoformat()}
    if stops:
        period["end"] = stops[-1].isoformat()
    order = session.order
    return {
        "resourceType": "MedicationAdministration",
        "id": f"admin-{session.pk}",
        "status": "completed" if stops else "in-progress",
        "medicationCodeableConcept": {
            "coding": [
                {"system": RXNORM, "code": settings.FHIR_KETAMINE_RXCUI, "display": "ketamine"}
            ],
            "text": "ketamine hydrochloride injection, IV infusion",
        },
        "subject": patient_reference(session.patient_id),
        "context": {"reference": f"Encounter/session-{session.pk}"},
        "effectivePeriod": period,
        "request": {"reference": f"MedicationRequest/order-{order.pk}"},
        "dosage": {
            "route": {"text": "intravenous"},
            "dose": {
                "value": float(dose_given_mg(session)),
                "unit": "mg",
                "system": UCUM,
                "code": "mg",
            },
            "rateQuantity": {
                "value": float(order.rate_ml_per_h),
                "unit": "mL/h",
                "system": UCUM,
                "code": "mL/h",
            },
        },
    }


def prn_administration_resource(given: Any) -> dict[str, Any]:
    """Issue 21 point 13: a PRN medicine given in the chair (infusions MedicationAdministration)
    in the session's Encounter; RxNorm ingredient when the data file has one (unverified), the
    dose in UCUM, the route, who gave it and why."""
    from infusionclinic.infusions.prn import prn_medicines

    med = prn_medicines().get(given.medicine)
    order_id = given.standing_order_line.standing_order_id
    concept: dict[str, Any] = {"text": med.name if med else given.medicine}
    if med is not None and med.rxnorm:
        concept["coding"] = [{"system": RXNORM, "code": med.rxnorm, "display": med.id}]
    return {
        "resourceType": "MedicationAdministration",
        "id": f"prn-{given.pk}",
        "status": "completed",
        "medicationCodeableConcept": concept,
        "subject": patient_reference(given.session.patient_id),
        "context": {"reference": f"Encounter/session-{given.session_id}"},
        "effectiveDateTime": given.given_at.isoformat(),
        "performer": [{"actor": {"display": str(given.given_by)}}],
        "reasonCode": [{"text": given.reason}],
        "note": [{"text": f"Given PRN under standing order #{order_id}"}],
        "dosage": {
            "route": {"text": given.route},
            "dose": {
                "value": float(given.dose),
                "unit": given.unit,
                "system": UCUM,
                "code": given.unit,
            },
        },
    }
