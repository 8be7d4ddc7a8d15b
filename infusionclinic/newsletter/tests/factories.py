from django.utils import timezone

from infusionclinic.accounts.models import User
from infusionclinic.newsletter.models import Campaign, Subscriber


def subscriber(email: str, *, status: str = "confirmed", interests=None) -> Subscriber:
    now = timezone.now()
    return Subscriber.objects.create(
        email=email,
        interests=interests or [],
        status=status,
        confirm_nonce="seed",
        created_at=now,
        confirmed_at=now if status == "confirmed" else None,
    )


def campaign(author: User, *, subject: str = "Spring news", segment: str = "") -> Campaign:
    return Campaign.objects.create(
        subject=subject,
        body_markdown="## Hello\n\nOur **new** location opens in May.\n",
        segment=segment,
        created_at=timezone.now(),
        created_by=author,
    )
