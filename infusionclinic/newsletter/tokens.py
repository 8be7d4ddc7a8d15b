"""Signed links (django.core.signing, keyed by SECRET_KEY). A confirmation link expires after
NEWSLETTER_CONFIRM_MAX_AGE_HOURS and only works for the sign-up that sent it; an unsubscribe link
never expires, so an old newsletter can always be used to leave."""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing

CONFIRM_SALT = "newsletter.confirm"
UNSUBSCRIBE_SALT = "newsletter.unsubscribe"


class TokenExpired(Exception):
    pass


class TokenInvalid(Exception):
    pass


@dataclass(frozen=True)
class ConfirmClaim:
    subscriber_id: int
    nonce: str


def confirm_token_make(*, subscriber_id: int, nonce: str) -> str:
    return signing.dumps({"s": subscriber_id, "n": nonce}, salt=CONFIRM_SALT, compress=True)


def confirm_token_read(token: str) -> ConfirmClaim:
    try:
        data = signing.loads(
            token, salt=CONFIRM_SALT, max_age=settings.NEWSLETTER_CONFIRM_MAX_AGE_HOURS * 3600
        )
    except signing.SignatureExpired as exc:
        raise TokenExpired from exc
    except signing.BadSignature as exc:
        raise TokenInvalid from exc
    try:
        return ConfirmClaim(subscriber_id=int(data["s"]), nonce=str(data["n"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise TokenInvalid from exc


def unsubscribe_token_make(*, subscriber_id: int) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(subscriber_id))


def unsubscribe_token_read(token: str) -> int:
    try:
        return int(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token))
    except (signing.BadSignature, ValueError) as exc:
        raise TokenInvalid from exc
