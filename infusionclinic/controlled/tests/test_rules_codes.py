"""codes.md §5 (CODE-RX): the ketamine product reference data and its use at receipt
(issue 21 part 2: every CODE-RX id the code implements is pinned by a test)."""

from decimal import Decimal as D

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from infusionclinic.controlled.models import Product
from infusionclinic.controlled.reference import (
    ketamine_reference,
    known_product,
    receipt_warnings,
    vial_strengths_mg_per_ml,
)
from tests.factories import logged_in_client


def test_code_rx1_rx2_rx3_rx5_reference_codes_are_the_domains():
    data = ketamine_reference()
    assert data["ingredient"]["rxcui"] == "6130"  # CODE-RX1
    assert data["clinical_drug_rxcuis"]["rxcuis"] == ["238082", "238083", "238084"]  # CODE-RX2
    assert data["branded_rxcuis"]["rxcuis"] == ["206967", "206970", "206972"]  # CODE-RX3
    assert data["unii"]["code"] == "O18YUO0I83"  # CODE-RX5


def test_code_rx6_products_are_schedule_ciii(db):
    """CODE-RX6: every ketamine NDC record is DEA schedule CIII; a product defaults to it."""
    assert ketamine_reference()["schedule"]["dea"] == "CIII"
    product = Product.objects.create(
        ndc="0409-2051-05", ndc11="00409-2051-05", strength_mg_per_ml=100, container_ml=5
    )
    assert product.schedule == "CIII"


def test_code_rx7_vial_strengths_are_10_50_100_mg_per_ml():
    assert vial_strengths_mg_per_ml() == (D(10), D(50), D(100))
    for strength in ("10", "50", "100"):
        assert (
            receipt_warnings(ndc="9999-1-1", strength_mg_per_ml=strength, container_ml="10") == []
        )
    (warning,) = receipt_warnings(ndc="9999-1-1", strength_mg_per_ml="25", container_ml="10")
    assert "CODE-RX7" in warning


def test_code_rx4_example_ndcs_and_a_receipt_unlike_its_ndc_is_flagged():
    assert known_product("0409-2051-05")["strength_mg_per_ml"] == "100"
    assert known_product("42023-113-10")["strength_mg_per_ml"] == "10"
    assert known_product("25021-684-05")["container_ml"] == "5"
    assert known_product("12345-678-90") is None
    assert receipt_warnings(ndc="0409-2051-05", strength_mg_per_ml="100", container_ml="5") == []
    (warning,) = receipt_warnings(ndc="0409-2051-05", strength_mg_per_ml="50", container_ml="10")
    assert "CODE-RX4" in warning
    assert "Hospira" in warning


RX4_RECEIPT = {
    "name": "Ketamine HCl injection",
    "strength_mg_per_ml": "50",
    "container_ml": "10",
    "lot_number": "A1",
    "expiry": "2030-01-31",
    "containers": "1",
    "supplier": "Wholesale",
    "invoice_number": "INV-9",
    "storage": "Cabinet A",
}


@pytest.mark.django_db
def test_code_rx4_receive_page_warns_but_records(nurse, location):
    """A package of a listed labeler-product (0409-2051) that is not itself listed is recorded (the
    NDC as printed is the record) and the mismatch with the product's listing is shown."""
    response = logged_in_client(nurse).post(
        reverse("controlled:receive", kwargs={"location_code": location.code}),
        {"ndc": "0409-2051-02", **RX4_RECEIPT},
    )
    assert response.status_code == 302
    texts = [str(m) for m in get_messages(response.wsgi_request)]
    assert any("CODE-RX4" in t for t in texts)
    assert Product.objects.filter(ndc="0409-2051-02").exists()


@pytest.mark.django_db
def test_cs23_listed_package_with_another_strength_is_refused(nurse, location):
    """The listed package NDC itself received as 50 mg/mL × 10 mL is a typo (CS-23), refused
    before CS-48 would freeze it: nothing is recorded."""
    response = logged_in_client(nurse).post(
        reverse("controlled:receive", kwargs={"location_code": location.code}),
        {"ndc": "0409-2051-05", **RX4_RECEIPT},
    )
    assert response.status_code == 200
    assert "CS-23" in response.content.decode()
    assert not Product.objects.filter(ndc="0409-2051-05").exists()
