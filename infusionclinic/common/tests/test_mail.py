"""Mail goes through the django-tasks database queue and out over real SMTP (aiosmtpd runs in the
test process), or into files under var/mail/ when no EMAIL_HOST is set."""

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from infusionclinic.common.mail import email_enqueue


# transaction=True: the worker closes and reopens database connections, as in production, which
# would end a test-wrapping transaction on PostgreSQL.
@pytest.mark.django_db(transaction=True)
def test_queued_mail_is_sent_by_the_worker_over_smtp(smtp_inbox):
    inbox = smtp_inbox
    with inbox.settings():
        email_enqueue(
            subject="Hello", body="Plain body", to=["pat@example.com"], html_body="<p>HTML body</p>"
        )
        assert inbox.messages == []  # queued, not sent inline
        assert DBTaskResult.objects.count() == 1
        call_command("db_worker", batch=True, no_startup_delay=True, reload=False)
    assert len(inbox.messages) == 1
    sent = inbox.messages[0]
    assert sent["To"] == "pat@example.com"
    assert sent["Subject"] == "Hello"
    assert sent.is_multipart()
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


@pytest.mark.django_db
def test_without_email_host_mail_is_written_to_files(tmp_path):
    with override_settings(
        EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend", EMAIL_FILE_PATH=tmp_path
    ):
        email_enqueue(subject="Reset", body="Your link", to=["pat@example.com"])
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    assert "Subject: Reset" in files[0].read_text()
