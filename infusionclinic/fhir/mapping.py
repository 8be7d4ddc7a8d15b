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
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
NPI = "http://hl7.org/fhir/sid/us-npi"

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


def practitioner_reference(user: Any) -> dict[str, str]:
    """A staff member as a Practitioner (issue 22 point 8: requester, performer, participant)."""
    reference = {"reference": f"Practitioner/{user.pk}"}
    if user.full_name:
        reference["display"] = user.full_name
    return reference


def location_reference(location: Any) -> dict[str, str]:
    return {"reference": f"Location/{location.pk}", "display": location.name}


def practitioner_resource(user: Any) -> dict[str, Any]:
    """A clinician named in a patient's record. The NPI comes from the billing identity where one
    is kept (billing.BillingProvider); otherwise the clinic's own staff identifier."""
    provider = getattr(user, "billing_provider", None)
    identifier = [{"system": "urn:infusionclinic:staff", "value": str(user.pk)}]
    if provider is not None and provider.npi:
        identifier.insert(0, {"system": NPI, "value": provider.npi})
    name = (provider.display_name if provider is not None else "") or user.full_name
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "id": str(user.pk),
        "active": user.is_active,
        "identifier": identifier,
    }
    if name:
        # One free-text name: the clinic keeps no separate family and given parts for staff.
        resource["name"] = [{"text": name}]
    return resource


def location_resource(location: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Location",
        "id": str(location.pk),
        "status": "active",
        "name": location.name,
        "mode": "instance",
    }
    if location.address:
        resource["address"] = {"text": location.address}
    if location.phone:
        resource["telecom"] = [{"system": "phone", "value": location.phone, "use": "work"}]
    return resource


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
        # A coded diagnosis on the chart is entered by a prescriber (chart.edit_diagnoses), not a
        # working hypothesis: confirmed.
        "verificationStatus": {"coding": [{"system": CONDITION_VERIFICATION, "code": "confirmed"}]},
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


def _answer(item: Any, value: int) -> dict[str, Any]:
    option = next((o for o in item.options if o.value == value), None)
    if option is not None and option.loinc:
        return {
            "valueCoding": {
                "system": LOINC,
                "code": option.loinc,
                "display": option.label,
                # The option's score, as the LOINC form's answer list carries it.
                "extension": [
                    {
                        "url": "http://hl7.org/fhir/StructureDefinition/ordinalValue",
                        "valueDecimal": value,
                    }
                ],
            }
        }
    return {"valueInteger": value}


def questionnaire_response_resource(assessment: Any) -> dict[str, Any]:
    """Issue 22 point 8: the response names the LOINC form (http://loinc.org/q/<panel>) only when
    the instrument's data file gives every item its LOINC item code, which is then the linkId;
    answers with a LOINC answer code (LA…) are sent as codings. scales.md gives no item or answer
    codes yet, so an instrument without them names the clinic's own form (its code and version)
    with the item numbers as linkIds and the scores as integers, which is what that form holds."""
    spec = assessment.instrument.spec
    panel = spec.loinc.get("panel")
    loinc_form = bool(panel) and all(item.loinc for item in spec.items)
    items = []
    for item, value in zip(spec.items, assessment.answers, strict=False):
        if value is None:
            continue
        items.append(
            {
                "linkId": item.loinc if loinc_form else str(item.number),
                "text": item.label,
                "answer": [_answer(item, value) if loinc_form else {"valueInteger": value}],
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{assessment.pk}",
        "questionnaire": (
            f"http://loinc.org/q/{panel}"
            if loinc_form
            else f"urn:infusionclinic:instrument:{spec.code}|{spec.version}"
        ),
        "status": "completed",
        "subject": patient_reference(assessment.patient_id),
        "authored": assessment.completed_at.isoformat(),
        "item": items,
    }


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


def ketamine_concept() -> dict[str, Any]:
    """The ketamine product. US Core wants the clinical drug (SCD), not the ingredient, but
    codes.md CODE-RX2 lists three ketamine injection SCDs (238082, 238083, 238084) without saying
    which strength each is: the clinic sets FHIR_KETAMINE_SCD_RXCUI to the one it stocks (one of
    CODE-RX2's, checked at start-up). Until then the ingredient (CODE-RX1,
    FHIR_KETAMINE_RXCUI) is sent, as it was."""
    scd = settings.FHIR_KETAMINE_SCD_RXCUI
    coding = (
        {"system": RXNORM, "code": scd, "display": "ketamine injectable solution"}
        if scd
        else {"system": RXNORM, "code": settings.FHIR_KETAMINE_RXCUI, "display": "ketamine"}
    )
    return {"coding": [coding], "text": "ketamine hydrochloride injection, IV infusion"}


def medication_request_resource(order: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": f"order-{order.pk}",
        "status": "active" if order.status == "signed" else "draft",
        "intent": "order",
        "medicationCodeableConcept": ketamine_concept(),
        "subject": patient_reference(order.patient_id),
        "authoredOn": (order.signed_at or order.created_at).isoformat(),
        # codes.md §7: the order is signed by the prescriber.
        **({"requester": practitioner_reference(order.signed_by)} if order.signed_by_id else {}),
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
            {"actor": location_reference(appointment.location), "status": "accepted"},
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
        # The infusion visit the reading was taken in (issue 22 point 8).
        "encounter": {"reference": f"Encounter/session-{vital.session_id}"},
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
    # Who ran the visit: the nurse who started the pump (primary performer) and who discharged.
    started_by = next((e.actor for e in session.pump.all() if e.action == "start"), None)
    participant = [
        {
            "type": [{"coding": [{"system": PARTICIPATION_TYPE, "code": code}]}],
            "individual": practitioner_reference(user),
        }
        for code, user in (("PPRF", started_by), ("DIS", session.discharged_by))
        if user is not None
    ]
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
        **({"participant": participant} if participant else {}),
        "period": period,
        "location": [{"location": location_reference(session.location), "status": "completed"}],
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
        "medicationCodeableConcept": ketamine_concept(),
        "subject": patient_reference(session.patient_id),
        "context": {"reference": f"Encounter/session-{session.pk}"},
        "effectivePeriod": period,
        # Who started the pump (the pump events are prefetched with their actors).
        "performer": [
            {"actor": practitioner_reference(event.actor)}
            for event in session.pump.all()
            if event.action == "start"
        ][:1],
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
        "performer": [{"actor": practitioner_reference(given.given_by)}],
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
