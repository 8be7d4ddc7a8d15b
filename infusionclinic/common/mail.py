"""Outgoing mail goes through the background queue so a slow or failing mail server never holds
up a page. The worker (`manage.py db_worker`) sends it with the configured EMAIL_BACKEND."""

from django.core.mail import EmailMultiAlternatives
from django_tasks import task


@task()
def send_email_task(
    *, subject: str, body: str, to: list[str], html_body: str | None = None
) -> None:
    message = EmailMultiAlternatives(subject=subject, body=body, to=to)
    if html_body:
        message.attach_alternative(html_body, "text/html")
    message.send()


def email_enqueue(*, subject: str, body: str, to: list[str], html_body: str | None = None) -> None:
    send_email_task.enqueue(subject=subject, body=body, to=to, html_body=html_body)
