"""Read-your-writes with a read replica (issue 20 section 1): after a user's POST, that user's
lag-tolerant reads go to the primary for REPLICA_READ_YOUR_WRITES_SECONDS, on whichever node."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from infusionclinic.common import middleware
from infusionclinic.common.dbrouter import ReplicaRouter, lag_tolerant_reads
from infusionclinic.common.middleware import ReadYourWritesMiddleware
from infusionclinic.patients.models import Patient

router = ReplicaRouter({"default": {}, "replica": {}})


def view(request: HttpRequest) -> HttpResponse:
    """Stands for an analytics page: answers with the database its lag-tolerant reads use."""
    with lag_tolerant_reads():
        return HttpResponse(router.db_for_read(Patient))


class User:
    is_authenticated = True


@pytest.fixture
def with_replica(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(middleware, "replica_configured", lambda: True)


def request(method: str, *, user=None, cookie: str | None = None) -> HttpRequest:  # noqa: ANN001
    req = getattr(RequestFactory(), method.lower())("/analytics/")
    req.user = user or User()
    if cookie is not None:
        req.COOKIES[ReadYourWritesMiddleware.COOKIE] = cookie
    return req


def test_after_a_post_the_users_reads_go_to_the_primary_issue_20_point_1(with_replica, settings):
    settings.REPLICA_READ_YOUR_WRITES_SECONDS = 5
    mw = ReadYourWritesMiddleware(view)
    assert mw(request("GET")).content == b"replica"  # no write yet: the replica serves

    posted = mw(request("POST"))
    assert posted.content == b"default"  # the writing request itself reads the primary
    marker = posted.cookies[ReadYourWritesMiddleware.COOKIE]
    assert 4 <= float(marker.value) - time.time() <= 5.01
    assert marker["max-age"] == 6
    assert marker["httponly"]

    # The next request carries the cookie to whichever node: primary again.
    assert mw(request("GET", cookie=marker.value)).content == b"default"


def test_the_marker_runs_out_issue_20_point_1(with_replica, settings):
    settings.REPLICA_READ_YOUR_WRITES_SECONDS = 5
    mw = ReadYourWritesMiddleware(view)
    assert mw(request("GET", cookie=f"{time.time() - 1:.3f}")).content == b"replica"
    assert mw(request("GET", cookie="garbage")).content == b"replica"


def test_an_anonymous_post_sets_no_marker_issue_20_point_1(with_replica):
    response = ReadYourWritesMiddleware(view)(request("POST", user=AnonymousUser()))
    assert response.content == b"default"
    assert ReadYourWritesMiddleware.COOKIE not in response.cookies


def test_without_a_replica_nothing_changes_issue_20_point_1(monkeypatch):
    monkeypatch.setattr(middleware, "replica_configured", lambda: False)
    response = ReadYourWritesMiddleware(view)(request("POST"))
    assert ReadYourWritesMiddleware.COOKIE not in response.cookies


def test_the_middleware_is_installed_after_authentication_issue_20_point_1(settings):
    chain = settings.MIDDLEWARE
    assert chain.index("infusionclinic.common.middleware.ReadYourWritesMiddleware") > chain.index(
        "django.contrib.auth.middleware.AuthenticationMiddleware"
    )
