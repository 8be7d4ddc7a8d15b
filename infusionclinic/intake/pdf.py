"""The PDF of exactly the signed version of a consent document (fpdf2, pure Python).

The core PDF fonts cover Latin-1 only; other characters are transliterated (e.g. "≥" -> ">=")
or, failing that, replaced by "?" — the stored signature row keeps the exact typed text."""

from __future__ import annotations

import hashlib

from fpdf import FPDF

from infusionclinic.common.pdftext import latin1

from .models import ConsentSignature


def consent_pdf(signature: ConsentSignature) -> bytes:
    document = signature.document
    patient = signature.patient
    zone = patient.home_location.tzinfo
    body_sha = hashlib.sha256(document.body.encode("utf-8")).hexdigest()

    pdf = FPDF(format="Letter")
    pdf.set_title(latin1(f"{document.title} - version {document.version}"))
    pdf.set_creator("Infusion Clinic")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, latin1(document.title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    pdf.multi_cell(
        0,
        6,
        latin1(f"Document {document.code}, version {document.version}"),
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    pdf.set_font("Helvetica", "", 11)
    for paragraph in document.body.split("\n"):
        pdf.multi_cell(0, 6, latin1(paragraph) or " ", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 7, "Signature", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    signed_local = signature.signed_at.astimezone(zone)
    lines = [
        f"Patient: {patient.legal_name}, born {patient.birth_date:%Y-%m-%d}, MRN {patient.mrn}",
        f"Typed name: {signature.typed_name}",
        "Checkbox ticked: I have read this document and I agree to it.",
        f"Signed at: {signed_local:%Y-%m-%d %H:%M %Z} ({signature.signed_at:%Y-%m-%dT%H:%M:%SZ})",
        f"Client address: {signature.client_address} ({signature.channel})",
        f"Text SHA-256: {body_sha}",
    ]
    if signature.countersigned_at is not None and signature.countersigned_by is not None:
        staff = signature.countersigned_by
        counter_local = signature.countersigned_at.astimezone(zone)
        lines.append(
            f"Countersigned by: {staff.full_name or staff.email} ({staff.get_role_display()}) "
            f"at {counter_local:%Y-%m-%d %H:%M %Z}"
        )
    else:
        lines.append("Countersigned by: not yet countersigned")
    for line in lines:
        pdf.multi_cell(0, 6, latin1(line), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
