"""The progress report as a PDF (fpdf2): the same content as the page, in text and tables."""

from __future__ import annotations

from fpdf import FPDF

from infusionclinic.common.pdftext import latin1

from .selectors import ProgressReport


def progress_report_pdf(report: ProgressReport, *, clinic_name: str) -> bytes:
    patient = report.patient
    tz = patient.home_location.tzinfo
    pdf = FPDF(format="Letter")
    pdf.set_title(latin1(f"Progress report - {patient.legal_name}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.multi_cell(0, 8, latin1(f"{clinic_name}: progress report"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=10)
    generated = report.generated_at.astimezone(tz)
    lines = [
        f"Patient: {patient.legal_name}, born {patient.birth_date:%Y-%m-%d}, MRN {patient.mrn}",
        f"Generated {generated:%Y-%m-%d %H:%M} ({patient.home_location.timezone})",
    ]
    provider = patient.referring_provider
    if provider:
        lines.append(
            f"Referring provider: {provider}" + (f", NPI {provider.npi}" if provider.npi else "")
        )
    for line in lines:
        pdf.multi_cell(0, 6, latin1(line), new_x="LMARGIN", new_y="NEXT")

    def heading(text: str) -> None:
        pdf.ln(3)
        pdf.set_font("Helvetica", "B", 12)
        pdf.multi_cell(0, 7, latin1(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)

    heading("Treatment courses")
    if not report.courses:
        pdf.multi_cell(0, 6, "No treatment course yet.", new_x="LMARGIN", new_y="NEXT")
    for section in report.courses:
        course = section.course
        pdf.multi_cell(
            0,
            6,
            latin1(
                f"{course.get_indication_display()}: started {course.started_at:%Y-%m-%d}, "
                f"now {course.get_phase_display().lower()} ({course.protocol.name} "
                f"v{course.protocol.version}, primary scale {course.primary_instrument})"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        for decision in section.decisions:
            pdf.multi_cell(
                0,
                6,
                latin1(
                    f"  {decision.decided_at.astimezone(tz):%Y-%m-%d}: "
                    f"{decision.get_to_phase_display()} - {decision.reason}"
                ),
                new_x="LMARGIN",
                new_y="NEXT",
            )
        if section.next_step is not None:
            step = section.next_step
            pdf.multi_cell(
                0,
                6,
                latin1(
                    f"  Next step proposed: {step.title} ({', '.join(step.rule_ids)}). "
                    f"{step.explanation}"
                ),
                new_x="LMARGIN",
                new_y="NEXT",
            )

    heading("Doses given by signed order")
    if not report.doses:
        pdf.multi_cell(0, 6, "No signed dosing order yet.", new_x="LMARGIN", new_y="NEXT")
    for order in report.doses:
        per = (
            f"{order.dose_mg_per_kg} mg/kg"
            if order.dose_mg_per_kg is not None
            else f"{order.dose_mg_per_kg_per_h} mg/kg/h"
        )
        pdf.multi_cell(
            0,
            6,
            latin1(
                f"{order.signed_at.astimezone(tz):%Y-%m-%d}: {per} x {order.dosing_weight_kg} kg"
                f" ({order.weight_basis}) = {order.dose_mg} mg over {order.duration_min} min"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )

    # Issue 21 point 5: each infusion's dose given beside its dose ordered.
    heading("Infusions: dose given and dose ordered")
    if not report.sessions:
        pdf.multi_cell(0, 6, "No infusion given yet.", new_x="LMARGIN", new_y="NEXT")
    for dose in report.sessions:
        ended = (
            f"ended early ({dose.early.label}{': ' + dose.early.text if dose.early.text else ''})"
            if dose.early
            else "as ordered"
        )
        pdf.multi_cell(
            0,
            6,
            latin1(
                f"{dose.started_at.astimezone(tz):%Y-%m-%d}: dose given {dose.dose_given_mg} mg "
                f"of {dose.dose_ordered_mg} mg ordered; pump {dose.running_min} of "
                f"{dose.ordered_min} min; {ended}"
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )

    heading("Side effects during infusions")
    if not report.side_effects:
        pdf.multi_cell(0, 6, "None recorded.", new_x="LMARGIN", new_y="NEXT")
    for effect in report.side_effects:
        pdf.multi_cell(
            0,
            6,
            latin1(
                f"{effect.onset_at.astimezone(tz):%Y-%m-%d}: {effect.code} grade {effect.grade}"
                + (", resolved" if effect.resolved_at else "")
                + (f" - {effect.note}" if effect.note else "")
            ),
            new_x="LMARGIN",
            new_y="NEXT",
        )

    heading("Questionnaire scores")
    if not report.instruments:
        pdf.multi_cell(0, 6, "No questionnaire submitted yet.", new_x="LMARGIN", new_y="NEXT")
    for section in report.instruments:
        pdf.set_font("Helvetica", "B", 10)
        pdf.multi_cell(0, 6, latin1(section.name), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        for row in section.rows:
            a = row.assessment
            change = row.outcome.percent_change
            pdf.multi_cell(
                0,
                6,
                latin1(
                    f"  {a.completed_at.astimezone(tz):%Y-%m-%d}: total {a.total} "
                    f"({a.severity})"
                    + (
                        f", {_change(change)} from baseline"
                        if change is not None and row.baseline_id != a.pk
                        else ""
                    )
                    + (" - response" if row.outcome.response else "")
                    + (" - remission" if row.outcome.remission else "")
                ),
                new_x="LMARGIN",
                new_y="NEXT",
            )
    return bytes(pdf.output())


def _change(percent: float) -> str:
    # outcomes: percent_change = (baseline - current) / baseline (SCALE-2): positive = lower
    return f"{abs(percent):.1f}% {'lower' if percent >= 0 else 'higher'}"
