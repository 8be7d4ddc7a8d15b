"""Bounded input types for the API schemas (issue 22 point 5). Every number and date a client
sends is bounded here, so a value out of range answers 422 naming the field rather than a 500
from an overflow: `EdgeDate`/`EdgeDateTime` within common.bounds' date window (settings
INPUT_DATE_MIN, INPUT_DATE_YEARS_AHEAD), `Id` a positive 64-bit integer, `EdgeDecimal` finite
and below common.bounds.DECIMAL_MAGNITUDE_MAX. Clinical ranges stay with their own rules (weight
and height: the services' PATIENT_WEIGHT_* / PATIENT_HEIGHT_* checks, which report every bad field
of a request at once)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from infusionclinic.common.bounds import DB_INT_MAX, DECIMAL_MAGNITUDE_MAX, date_problem


def _date_in_window(value: Any) -> Any:
    problem = date_problem(value)
    if problem:
        raise PydanticCustomError("date_range", problem)
    return value


EdgeDate = Annotated[date, AfterValidator(_date_in_window)]
EdgeDateTime = Annotated[datetime, AfterValidator(_date_in_window)]
Id = Annotated[int, Field(ge=1, le=DB_INT_MAX)]
EdgeInt = Annotated[int, Field(ge=-DB_INT_MAX, le=DB_INT_MAX)]
EdgeDecimal = Annotated[
    Decimal, Field(allow_inf_nan=False, ge=-DECIMAL_MAGNITUDE_MAX, le=DECIMAL_MAGNITUDE_MAX)
]
PositiveDecimal = Annotated[Decimal, Field(allow_inf_nan=False, gt=0, le=DECIMAL_MAGNITUDE_MAX)]
