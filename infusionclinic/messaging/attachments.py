"""Attachment checks (issue 18 section 3): PDF, JPEG or PNG, at most MESSAGING_ATTACHMENT_MAX_BYTES
(10 MB), the type read from the file's first bytes (its magic number), never from its name or
the Content-Type the client sent."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import IO

from django.conf import settings
from django.core.exceptions import ValidationError

# Magic numbers: PDF "%PDF-" (ISO 32000-1 §7.5.2), JPEG SOI + marker FF D8 FF (ITU T.81),
# PNG's 8-byte signature (RFC 2083 §3.1).
SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "application/pdf", "pdf"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
)
ALLOWED_TYPES = tuple(content_type for _, content_type, _ in SIGNATURES)


@dataclass(frozen=True)
class CheckedFile:
    content_type: str
    extension: str
    size_bytes: int
    sha256: str
    original_name: str
    stored_name: str


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the first bytes, or None for anything else."""
    for magic, content_type, extension in SIGNATURES:
        if head.startswith(magic):
            return content_type, extension
    return None


def safe_original_name(name: str) -> str:
    """The name as shown and offered on download: no path, no control or quote characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip(" .") or "attachment"
    return base[:120]


def attachment_check(*, file: IO[bytes], name: str, size: int | None = None) -> CheckedFile:
    """Read the file once (in chunks): its type from the magic bytes, its size and SHA-256.
    Raises ValidationError({"file": [...]}) for an empty, oversized or unlisted file."""
    limit = settings.MESSAGING_ATTACHMENT_MAX_BYTES
    if size is not None and size > limit:
        raise ValidationError({"file": [_too_big(limit)]})
    file.seek(0)
    head = file.read(16)
    found = sniff(head)
    if not head:
        raise ValidationError({"file": ["The file is empty."]})
    if found is None:
        raise ValidationError(
            {"file": ["Only PDF, JPEG and PNG files can be attached (checked from the content)."]}
        )
    digest = hashlib.sha256(head)
    total = len(head)
    while chunk := file.read(64 * 1024):
        total += len(chunk)
        if total > limit:
            raise ValidationError({"file": [_too_big(limit)]})
        digest.update(chunk)
    file.seek(0)
    content_type, extension = found
    return CheckedFile(
        content_type=content_type,
        extension=extension,
        size_bytes=total,
        sha256=digest.hexdigest(),
        original_name=safe_original_name(name),
        # A random stored name: the patient's file name never reaches the storage path.
        stored_name=f"{secrets.token_hex(16)}.{extension}",
    )


def _too_big(limit: int) -> str:
    return f"The file is larger than {limit // (1024 * 1024)} MB."
