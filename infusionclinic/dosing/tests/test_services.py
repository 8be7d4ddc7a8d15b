"""Dosing orders: drafts computed from the chart, signing rules (LIM-15, WT-8, reasons), and the
immutability of signed orders."""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import override_settings
from django.utils import timezone

from infusionclinic.audit.models import AuditAction, AuditEvent
from infusionclinic.dosing import services
from infusionclinic.dosing.models import DosingOrder, OrderStatus
from infusionclinic.dosing.selectors import order_get_for_user, orders_for_patient
from tests.factories import PASSWORD, PatientFactory, add_weight, make_user

from .factories import STANDARD, add_height, current_code, totp_device

pytestmark = pytest.mark.django_db


def draft(actor, patient, **kw):
    return services.dosing_order_create(actor=actor, patient=patient, **{**STANDARD, **kw})


def test_draft_uses_the_latest_weight_and_records_basis_and_values_wt1(prescriber, patient):
    order = draft(prescriber, patient)
    assert order.status == OrderStatus.DRAFT
    assert (order.weight_basis, order.weight_kg, order.dosing_weight_kg) == ("actual", D(80), D(80))
    assert (order.dose_mg, order.volume_ml, order.rate_ml_per_h) == (D(40), D(40), D(60))
    assert order.lineage_id == order.pk
    assert order.version == 1
    assert AuditEvent.objects.filter(action=AuditAction.CREATE, object_id=str(order.pk)).exists()


def test_ideal_basis_uses_the_recorded_height_example_4(prescriber, location):
    from tests.factories import PatientFactory

    p = PatientFactory(home_location=location)
    add_weight(p, "110.0", timezone.localdate())
    add_height(p, "165.0")
    order = draft(prescriber, p, weight_basis="ideal")
    assert (order.dosing_weight_kg, order.dose_mg, order.rate_ml_per_h) == (
        D("56.9"),
        D("28.5"),
        D("42.7"),
    )
    assert order.bmi == D("40.4")
    assert "WT-3" in [f["rule_id"] for f in order.warnings]


def test_wt8_weight_older_than_30_days_must_be_measured_again(prescriber, location):
    from tests.factories import PatientFactory

    p = PatientFactory(home_location=location)
    add_weight(p, "80.0", timezone.localdate(timezone=location.tzinfo) - timedelta(days=31))
    with pytest.raises(ValidationError) as err:
        draft(prescriber, p)
    assert "WT-8" in err.value.message_dict["weight"][0]


@override_settings(DOSING_WEIGHT_MAX_AGE_DAYS=60)
def test_wt8_freshness_window_is_a_setting(prescriber, location):
    from tests.factories import PatientFactory

    p = PatientFactory(home_location=location)
    add_weight(p, "80.0", timezone.localdate() - timedelta(days=45))
    assert draft(prescriber, p).weight_kg == D(80)


def test_wt8_no_weight_at_all_refuses_the_draft(prescriber, location):
    from tests.factories import PatientFactory

    with pytest.raises(ValidationError) as err:
        draft(prescriber, PatientFactory(home_location=location))
    assert "weight" in err.value.message_dict


@override_settings(DOSING_LIMITS={"mood_warn_above_mg_per_kg": "0.6"})
def test_limits_are_settings(prescriber, patient):
    assert [f["rule_id"] for f in draft(prescriber, patient, dose_mg_per_kg="0.65").warnings] == [
        "LIM-3"
    ]


@pytest.mark.parametrize("role", ["nurse", "front_desk", "admin"])
def test_only_a_prescriber_writes_orders(role, location, patient):
    with pytest.raises(PermissionDenied):
        draft(make_user(role, location), patient)


def test_sign_with_password(prescriber, patient):
    order = services.dosing_order_sign(
        actor=prescriber, order=draft(prescriber, patient), password=PASSWORD
    )
    assert order.status == OrderStatus.SIGNED
    assert order.signed_by == prescriber
    assert order.sign_method == "password"


def test_sign_with_totp_code(prescriber, patient):
    device = totp_device(prescriber)
    order = services.dosing_order_sign(
        actor=prescriber, order=draft(prescriber, patient), totp=current_code(device)
    )
    assert order.sign_method == "totp"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({}, "password"), ({"password": "wrong"}, "password"), ({"totp": "000000"}, "totp")],
)
def test_sign_refuses_without_valid_reauthentication(prescriber, patient, kwargs, field):
    totp_device(prescriber)
    order = draft(prescriber, patient)
    with pytest.raises(ValidationError) as err:
        services.dosing_order_sign(actor=prescriber, order=order, **kwargs)
    assert field in err.value.message_dict
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT
    # A wrong secret is audited (accounts.user_reauthenticate), outside the signing transaction.
    failed = AuditEvent.objects.filter(action=AuditAction.LOGIN_FAILED, actor=prescriber)
    assert failed.count() == (1 if kwargs else 0)


@pytest.mark.parametrize("role", ["nurse", "admin", "front_desk"])
def test_lim15_signer_must_be_a_prescriber(role, location, prescriber, patient):
    order = draft(prescriber, patient)
    with pytest.raises(PermissionDenied):
        services.dosing_order_sign(actor=make_user(role, location), order=order, password=PASSWORD)


def test_hard_stop_blocks_signing_lim4_and_the_default_session_cap_lim9(prescriber, patient):
    """1.2 mg/kg: LIM-4 asks for an override reason, and LIM-9 (default cap = LIM-4 × dosing
    weight) is a hard stop no reason lifts."""
    order = draft(prescriber, patient, dose_mg_per_kg="1.2")
    assert order.blocked
    with pytest.raises(ValidationError) as err:
        services.dosing_order_sign(
            actor=prescriber,
            order=order,
            password=PASSWORD,
            warning_reason="sure",
            override_reason="Partial response at 1.0 mg/kg; tolerated well.",
        )
    assert any("LIM-9" in m for m in err.value.message_dict["__all__"])
    order.refresh_from_db()
    assert order.status == OrderStatus.DRAFT


@override_settings(DOSING_LIMITS={"max_mg_session": "200"})
def test_lim4_hard_stop_is_overridden_only_with_a_written_reason(prescriber, patient):
    """dosing.md §6: LIM-4 is "hard stop (override)": a prescriber may sign above 1.0 mg/kg with a
    written reason (audited); without one, signing is refused on that field."""
    order = draft(prescriber, patient, dose_mg_per_kg="1.2")
    assert [f["rule_id"] for f in order.findings if f["severity"] == "hard_stop"] == ["LIM-4"]
    with pytest.raises(ValidationError) as err:
        services.dosing_order_sign(
            actor=prescriber, order=order, password=PASSWORD, warning_reason="titrating"
        )
    assert "LIM-4" in err.value.message_dict["override_reason"][0]
    signed = services.dosing_order_sign(
        actor=prescriber,
        order=order,
        password=PASSWORD,
        warning_reason="titrating",
        override_reason="Partial response at 1.0 mg/kg; tolerated well; discussed with patient.",
    )
    assert signed.status == OrderStatus.SIGNED
    assert signed.override_reason.startswith("Partial response")
    event = AuditEvent.objects.filter(action="update", object_id=str(order.pk)).last()
    assert event.detail["overridden"] == ["LIM-4"]


@override_settings(DOSING_LIMITS={"max_mg_session": "200"})
def test_an_override_reason_does_not_lift_other_hard_stops_lim1(prescriber, patient):
    order = draft(prescriber, patient, concentration_mg_per_ml="100")
    with pytest.raises(ValidationError) as err:
        services.dosing_order_sign(
            actor=prescriber,
            order=order,
            password=PASSWORD,
            warning_reason="x",
            override_reason="I really want to",
        )
    assert any("LIM-1" in m for m in err.value.message_dict["__all__"])


def test_soft_limit_needs_a_written_reason_lim3(prescriber, patient):
    order = draft(prescriber, patient, dose_mg_per_kg="0.8")
    with pytest.raises(ValidationError) as err:
        services.dosing_order_sign(actor=prescriber, order=order, password=PASSWORD)
    assert "warning_reason" in err.value.message_dict
    signed = services.dosing_order_sign(
        actor=prescriber, order=order, password=PASSWORD, warning_reason="Partial response at 0.75"
    )
    assert signed.warning_reason == "Partial response at 0.75"


def test_lim10_compares_with_the_previous_signed_order(prescriber, patient):
    services.dosing_order_sign(
        actor=prescriber, order=draft(prescriber, patient, dose_mg_per_kg="0.2"), password=PASSWORD
    )
    assert "LIM-10" in [f["rule_id"] for f in draft(prescriber, patient).warnings]


def test_lim11_weight_change_since_previous_measurement_warns(prescriber, patient):
    add_weight(patient, "95.0", timezone.localdate())
    assert "LIM-11" in [f["rule_id"] for f in draft(prescriber, patient).warnings]


def test_signed_order_is_immutable_and_a_change_makes_a_new_version(prescriber, patient):
    first = services.dosing_order_sign(
        actor=prescriber, order=draft(prescriber, patient), password=PASSWORD
    )
    before = DosingOrder.objects.filter(pk=first.pk).values().get()
    with pytest.raises(ValidationError):
        services.dosing_order_sign(actor=prescriber, order=first, password=PASSWORD)
    second = services.dosing_order_revise(
        actor=prescriber,
        order=first,
        change_reason="Titration: no response (DOSE-3)",
        changes={"dose_mg_per_kg": D("0.6")},
    )
    assert (second.version, second.lineage_id, second.supersedes) == (2, first.pk, first)
    assert second.status == OrderStatus.DRAFT
    assert second.dose_mg == D(48)
    services.dosing_order_sign(actor=prescriber, order=second, password=PASSWORD)
    assert DosingOrder.objects.filter(pk=first.pk).values().get() == before
    shown = order_get_for_user(user=prescriber, order_id=first.pk)
    assert shown.is_superseded


def test_revise_needs_a_reason_and_the_latest_version(prescriber, patient):
    first = draft(prescriber, patient)
    with pytest.raises(ValidationError) as err:
        services.dosing_order_revise(actor=prescriber, order=first, change_reason="", changes={})
    assert "change_reason" in err.value.message_dict
    services.dosing_order_revise(actor=prescriber, order=first, change_reason="x", changes={})
    with pytest.raises(ValidationError):
        services.dosing_order_revise(actor=prescriber, order=first, change_reason="y", changes={})
    with pytest.raises(ValidationError):  # the superseded draft cannot be signed either
        services.dosing_order_sign(actor=prescriber, order=first, password=PASSWORD)


def test_sign_rechecks_weight_freshness_wt8(prescriber, patient):
    order = draft(prescriber, patient)
    DosingOrder.objects.filter(pk=order.pk).update(
        weight_measured_on=timezone.localdate() - timedelta(days=40)
    )
    order.refresh_from_db()
    with pytest.raises(ValidationError) as err:
        services.dosing_order_sign(actor=prescriber, order=order, password=PASSWORD)
    assert any("WT-8" in m for m in err.value.message_dict["__all__"])


def test_nurses_see_signed_orders_only(prescriber, nurse, patient):
    unsigned = draft(prescriber, patient)
    signed = services.dosing_order_sign(
        actor=prescriber, order=draft(prescriber, patient), password=PASSWORD
    )
    assert [o.pk for o in orders_for_patient(user=nurse, patient=patient)] == [signed.pk]
    from django.http import Http404

    with pytest.raises(Http404):
        order_get_for_user(user=nurse, order_id=unsigned.pk)
    assert order_get_for_user(user=nurse, order_id=signed.pk) == signed


def test_intake_gate_refuses_signing_for_a_patient_intake_does_not_clear(prescriber, location):
    """Issue 4's gate applies to orders: a patient without a submitted intake, screening and
    current consent may not have an order signed, and the reasons are shown."""
    unscreened = PatientFactory(home_location=location)
    add_weight(unscreened, "80.0", timezone.localdate() - timedelta(days=1))
    order = draft(prescriber, unscreened)
    with pytest.raises(ValidationError) as err:
        services.dosing_order_sign(actor=prescriber, order=order, password=PASSWORD)
    assert any("intake" in m.lower() for m in err.value.message_dict["__all__"])
    order.refresh_from_db()
    assert order.status == "draft"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("dose_mg_per_kg", "150"),
        ("dose_mg_per_kg", "0.12345"),
        ("concentration_mg_per_ml", "0.001"),
        ("concentration_mg_per_ml", "250"),
        ("duration_min", "40.5"),
        ("duration_min", "5000"),
    ],
)
def test_order_input_outside_what_an_order_can_hold_is_refused_on_its_field(
    prescriber, patient, field, value
):
    with pytest.raises(ValidationError) as err:
        draft(prescriber, patient, **{field: value})
    assert field in err.value.message_dict
    assert not DosingOrder.objects.exists()


def test_extreme_but_storable_order_is_saved_and_blocked(prescriber, patient):
    # 10 mg/kg over 1 min at 0.01 mg/mL: absurd, so LIM-4/LIM-13 block it, but it is stored.
    order = draft(
        prescriber, patient, dose_mg_per_kg="10", duration_min=1, concentration_mg_per_ml="0.01"
    )
    order.refresh_from_db()
    assert order.blocked
    assert order.rate_ml_per_h == D(4_800_000)
