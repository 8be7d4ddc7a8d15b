"""On PostgreSQL the database itself refuses double-booking: two booked appointments may not
overlap on the same chair, nor for the same patient (GiST exclusion constraints over a
half-open tstzrange, which needs the btree_gist extension for the "=" on ids).

SQLite has no exclusion constraints; there `services.py` checks overlaps inside a transaction
that takes the write lock at BEGIN (transaction_mode IMMEDIATE), so bookings are serialised.
The constraints are not in the model's Meta because they exist only on PostgreSQL."""

from django.db import migrations

CONSTRAINTS = {
    "appointment_no_chair_overlap": "chair_id",
    "appointment_no_patient_overlap": "patient_id",
}


def _constraints():
    from django.contrib.postgres.constraints import ExclusionConstraint
    from django.contrib.postgres.fields import DateTimeRangeField, RangeBoundary, RangeOperators
    from django.db.models import Func, Q

    class TsTzRange(Func):
        function = "TSTZRANGE"
        output_field = DateTimeRangeField()

    return [
        ExclusionConstraint(
            name=name,
            expressions=[
                (TsTzRange("starts_at", "ends_at", RangeBoundary()), RangeOperators.OVERLAPS),
                (column.removesuffix("_id"), RangeOperators.EQUAL),
            ],
            condition=Q(status="booked"),
        )
        for name, column in CONSTRAINTS.items()
    ]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    appointment = apps.get_model("scheduling", "Appointment")
    for constraint in _constraints():
        schema_editor.add_constraint(appointment, constraint)


def reverse(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    appointment = apps.get_model("scheduling", "Appointment")
    for constraint in _constraints():
        schema_editor.remove_constraint(appointment, constraint)


class Migration(migrations.Migration):
    dependencies = [("scheduling", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse)]
