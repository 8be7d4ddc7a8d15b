"""Issue 21 point 12 (consent part): the patient reviews every consent document due on one page
(each readable in full), types the name once, ticks one box per document and signs once; each
document still gets its own signed, versioned record and PDF, the act is audited, and the
patient lands on their portal home, not on a staff address."""

import pytest

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.intake.models import ConsentSignature
from infusionclinic.intake.selectors import consent_documents_current
from infusionclinic.patients.models import Diagnosis
from tests.factories import PatientFactory, logged_in_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def patient(location):
    patient = PatientFactory(home_location=location, given_name="Ada", family_name="Okafor")
    Diagnosis.objects.create(patient=patient, code="F43.10", description="PTSD, unspecified")
    make_user("patient", patient=patient)
    return patient


def _all_boxes(documents):
    return {f"agree_{d.code}": "on" for d in documents}


def test_one_review_and_sign_page_at_a_portal_address_lists_every_document_in_full(patient):
    documents = consent_documents_current()
    assert len(documents) > 1
    page = logged_in_client(patient.user).get("/my/consent/")
    assert page.status_code == 200  # served here, not a redirect to /patients/<id>/consent/
    html = page.content.decode()
    assert html.count('name="typed_name"') == 1
    for document in documents:
        assert f'name="agree_{document.code}"' in html
        assert document.body.splitlines()[0].strip()[:40] in html


def test_one_signature_act_signs_every_document_as_its_own_version_and_lands_on_the_portal(
    patient,
):
    documents = consent_documents_current()
    client = logged_in_client(patient.user)
    response = client.post(
        "/my/consent/",
        {"typed_name": "Ada Okafor", **_all_boxes(documents)},
        REMOTE_ADDR="198.51.100.9",
    )
    assert response.status_code == 302
    assert response["Location"] == "/my/"
    signatures = ConsentSignature.objects.filter(patient=patient)
    assert {(s.document.code, s.document.version) for s in signatures} == {
        (d.code, d.version) for d in documents
    }
    assert all(s.pdf and s.pdf_sha256 and s.typed_name == "Ada Okafor" for s in signatures)
    assert {s.client_address for s in signatures} == {"198.51.100.9"}
    created = AuditEvent.objects.filter(
        action=AuditAction.CREATE, patient=patient, object_type="intake.ConsentSignature"
    )
    assert created.count() == len(documents)
    act = AuditEvent.objects.get(
        action=AuditAction.CREATE, patient=patient, detail__has_key="consent_review_and_sign"
    )
    assert len(act.detail["consent_review_and_sign"]) == len(documents)
    page = client.get("/my/consent/").content.decode()
    assert "Every current consent document is signed." in page


def test_a_box_left_unticked_or_a_wrong_name_signs_nothing(patient):
    documents = consent_documents_current()
    client = logged_in_client(patient.user)
    boxes = _all_boxes(documents)
    boxes.pop(f"agree_{documents[-1].code}")
    refused = client.post("/my/consent/", {"typed_name": "Ada Okafor", **boxes})
    assert refused.status_code == 400
    assert f"you have read {documents[-1].title}" in refused.content.decode()
    refused = client.post("/my/consent/", {"typed_name": "Ada O.", **_all_boxes(documents)})
    assert refused.status_code == 400
    assert "exactly as the clinic has it" in refused.content.decode()
    assert not ConsentSignature.objects.exists()


def test_staff_may_not_sign_through_the_review_flow(patient, location):
    documents = consent_documents_current()
    client = logged_in_client(make_user("nurse", location))
    response = client.post(
        f"/patients/{patient.pk}/consent/", {"typed_name": "Ada Okafor", **_all_boxes(documents)}
    )
    assert response.status_code == 403
    assert not ConsentSignature.objects.exists()
