"""scales.md SCALE-5 (issue 21 part 2): scales are screening and monitoring tools, not diagnoses.
A score above any cut-off never writes a diagnosis into the chart, and PCL-5 (no empirically
derived severity bands) is reported as a total only, never as "PTSD"."""

import pytest

from infusionclinic.outcomes import services
from infusionclinic.patients.models import Diagnosis
from tests.factories import PatientFactory, make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("code", "answers"), [("PHQ-9", [3] * 8 + [0]), ("PCL-5", [4] * 20), ("GAD-7", [3] * 7)]
)
def test_scale5_a_maximal_score_adds_no_diagnosis(location, code, answers):
    """SCALE-5: the highest possible total is stored as a score, and the chart's diagnoses stay
    as the clinician recorded them (none here)."""
    patient = PatientFactory(home_location=location)
    nurse = make_user("nurse", location)
    assessment = services.assessment_submit(
        actor=nurse, patient=patient, instrument_code=code, answers=answers
    )
    assert assessment.total == sum(answers)
    assert not Diagnosis.objects.filter(patient=patient).exists()


def test_scale5_pcl5_reports_a_total_without_a_diagnostic_label(location):
    """SCALE-5 with scales.md §4: a PCL-5 above the provisional cut-off (33) is not labelled as
    a diagnosis or a severity band."""
    patient = PatientFactory(home_location=location)
    nurse = make_user("nurse", location)
    assessment = services.assessment_submit(
        actor=nurse, patient=patient, instrument_code="PCL-5", answers=[3] * 20
    )
    assert assessment.total == 60
    assert "ptsd" not in assessment.severity.lower()
    assert "diagnos" not in assessment.severity.lower()
