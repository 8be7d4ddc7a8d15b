"""The PDF transcript of a thread filed to the chart (fpdf2, core fonts via common.pdftext)."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF

from infusionclinic.accounts.models import User
from infusionclinic.common.pdftext import latin1

from .models import Message, Thread


def thread_pdf(
    *, thread: Thread, messages: list[Message], filed_by: User, filed_at: datetime
) -> bytes:
    zone = thread.location.tzinfo
    patient = thread.patient
    pdf = FPDF(format="Letter")
    pdf.set_title(latin1(f"Message thread {thread.pk}: {thread.subject}"))
    pdf.set_creator("Infusion Clinic")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(
        0, 8, latin1(f"Secure messages: {thread.subject}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 10)
    header = [
        f"Patient: {patient.legal_name}, born {patient.birth_date:%Y-%m-%d}, MRN {patient.mrn}",
        f"Location: {thread.location.name}; category: {thread.get_category_display()}",
        f"Filed by {filed_by.full_name or filed_by.email} ({filed_by.get_role_display()}) "
        f"at {filed_at.astimezone(zone):%Y-%m-%d %H:%M %Z}; {len(messages)} messages",
    ]
    if thread.urgent:
        header.append("Flagged urgent: a patient message contained crisis words.")
    for line in header:
        pdf.multi_cell(0, 6, latin1(line), new_x="LMARGIN", new_y="NEXT")
    for message in messages:
        pdf.ln(3)
        author = message.author
        who = "Patient" if message.from_patient else f"{author.full_name or author.email}"
        pdf.set_font("Helvetica", "B", 10)
        pdf.multi_cell(
            0,
            6,
            latin1(f"{who} - {message.created_at.astimezone(zone):%Y-%m-%d %H:%M %Z}"),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("Helvetica", "", 10)
        for paragraph in message.body.split("\n"):
            pdf.multi_cell(0, 5, latin1(paragraph) or " ", new_x="LMARGIN", new_y="NEXT")
        for attachment in message.attachments.all():
            pdf.multi_cell(
                0,
                5,
                latin1(
                    f"Attachment: {attachment.original_name} ({attachment.content_type}, "
                    f"{attachment.size_bytes} bytes, SHA-256 {attachment.sha256})"
                ),
                new_x="LMARGIN",
                new_y="NEXT",
            )
    return bytes(pdf.output())
