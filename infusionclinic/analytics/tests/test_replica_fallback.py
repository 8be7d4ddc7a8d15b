"""Replica down (issue 20 section 1): the analytics figures, lag-tolerant reads, still answer from
the primary, with a warning logged instead of an error."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings

from infusionclinic.analytics.selectors import clinic_figures
from tests.replica import unreachable_replica

from .test_selectors import FROM, TO, clinic  # noqa: F401  (clinic is a fixture)

pytestmark = pytest.mark.django_db


@pytest.mark.skipif("replica" in settings.DATABASES, reason="the suite runs with a real replica")
def test_analytics_answer_from_the_primary_when_the_replica_is_down_issue_20_point_1(
    clinic,  # noqa: F811
    real_replica_routing,
    caplog,
):
    with unreachable_replica(), caplog.at_level(logging.WARNING):
        figures = clinic_figures(locations=[clinic], date_from=FROM, date_to=TO)
    assert figures.infusions == 5  # the known figures of test_selectors' clinic, from the primary
    assert "Read replica unavailable" in caplog.text
