"""Encrypted, checksummed backup files, streamed in constant memory.

Layout (all integers big-endian):

    header  = MAGIC (8) | VERSION (1) | KIND (1) | SALT (16) | NONCE_PREFIX (7) | KEY_CHECK (16)
    chunk_i = AES-256-GCM(file_key, nonce_i, plaintext_i, aad=header)   i = 0, 1, 2, ...
    nonce_i = NONCE_PREFIX | i (4 bytes) | last flag (1 byte: 0, or 1 on the final chunk)

The plaintext stream is the data followed by its SHA-256 (32 bytes), cut into CHUNK_SIZE pieces;
every chunk but the last is full, and only the last carries flag 1. This is the STREAM construction
(Hoang, Reyhanitabar, Rogaway, Vizár 2015): the counter in the nonce detects reordered or
dropped chunks, the last-chunk flag detects a file cut at a chunk boundary, and the tag of each
chunk detects any changed byte. The file key is HKDF-SHA256(BACKUP_KEY, salt), so two backups
never share a key and nonce. KEY_CHECK tells "wrong key" from "damaged file" before decrypting.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"ICBACKUP"
VERSION = 1
KIND_SQLITE = b"S"
KIND_POSTGRESQL = b"P"
KINDS = {KIND_SQLITE: "SQLite", KIND_POSTGRESQL: "PostgreSQL"}
SALT_SIZE = 16
NONCE_PREFIX_SIZE = 7
KEY_CHECK_SIZE = 16
HEADER_SIZE = len(MAGIC) + 1 + 1 + SALT_SIZE + NONCE_PREFIX_SIZE + KEY_CHECK_SIZE
CHUNK_SIZE = 64 * 1024
TAG_SIZE = 16
DIGEST_SIZE = 32
MAX_CHUNKS = 2**32
KEY_ENV = "BACKUP_KEY"


class BackupError(Exception):
    """A backup cannot be written or read; the message says why, for the operator."""


def key_from_env(environ: dict[str, str] | None = None) -> bytes:
    raw = (environ if environ is not None else os.environ).get(KEY_ENV, "").strip()
    if not raw:
        raise BackupError(
            f"{KEY_ENV} is not set. Create one with: "
            "python -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())' "
            "and keep a copy somewhere other than the backups."
        )
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BackupError(f"{KEY_ENV} is not valid base64.") from exc
    if len(key) != 32:
        raise BackupError(f"{KEY_ENV} must be 32 bytes (base64 of 32 random bytes).")
    return key


def new_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass(frozen=True)
class _Header:
    kind: bytes
    salt: bytes
    nonce_prefix: bytes

    def without_check(self) -> bytes:
        return MAGIC + bytes([VERSION]) + self.kind + self.salt + self.nonce_prefix


def _file_keys(key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    okm = HKDF(
        algorithm=hashes.SHA256(), length=64, salt=salt, info=b"infusionclinic backup v1"
    ).derive(key)
    return okm[:32], okm[32:]  # encryption key, key-check key


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    if counter >= MAX_CHUNKS:
        raise BackupError("Backup too large for one file (2^32 chunks).")
    return prefix + counter.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


def encrypt_stream(source: BinaryIO, dest: BinaryIO, *, key: bytes, kind: bytes) -> str:
    """Encrypt everything read from `source` into `dest`. Returns the plaintext's SHA-256 (hex)."""
    header = _Header(kind, secrets.token_bytes(SALT_SIZE), secrets.token_bytes(NONCE_PREFIX_SIZE))
    enc_key, check_key = _file_keys(key, header.salt)
    head = header.without_check()
    full_header = head + hmac.digest(check_key, head, "sha256")[:KEY_CHECK_SIZE]
    dest.write(full_header)
    aead = AESGCM(enc_key)
    prefix = header.nonce_prefix
    digest = hashlib.sha256()
    counter = 0
    pending = _read_full(source, CHUNK_SIZE)
    while True:
        following = _read_full(source, CHUNK_SIZE)
        digest.update(pending)
        if following:
            dest.write(aead.encrypt(_nonce(prefix, counter, False), pending, full_header))
            pending, counter = following, counter + 1
            continue
        # The plaintext stream is data || SHA-256(data), cut into CHUNK_SIZE pieces.
        tail = pending + digest.digest()
        if len(tail) > CHUNK_SIZE:
            dest.write(aead.encrypt(_nonce(prefix, counter, False), tail[:CHUNK_SIZE], full_header))
            tail, counter = tail[CHUNK_SIZE:], counter + 1
        dest.write(aead.encrypt(_nonce(prefix, counter, True), tail, full_header))
        break
    return digest.hexdigest()


def _read_full(source: BinaryIO, size: int) -> bytes:
    """Exactly `size` bytes unless the stream ends (a pipe may return less per read)."""
    parts: list[bytes] = []
    wanted = size
    while wanted:
        part = source.read(wanted)
        if not part:
            break
        parts.append(part)
        wanted -= len(part)
    return b"".join(parts)


def read_kind(source: BinaryIO) -> bytes:
    """The backup's database kind, from its header, without a key (the stream is rewound)."""
    start = source.tell()
    header = source.read(HEADER_SIZE)
    source.seek(start)
    return _parse_header(header).kind


def _parse_header(raw: bytes) -> _Header:
    if len(raw) < len(MAGIC) or raw[: len(MAGIC)] != MAGIC:
        raise BackupError("Not an Infusion Clinic backup (wrong magic bytes).")
    if len(raw) < HEADER_SIZE:
        raise BackupError("The backup is truncated (incomplete header).")
    version = raw[len(MAGIC)]
    if version != VERSION:
        raise BackupError(f"Backup format version {version} is not supported (expected {VERSION}).")
    kind = raw[len(MAGIC) + 1 : len(MAGIC) + 2]
    if kind not in KINDS:
        raise BackupError("The backup header names an unknown database kind.")
    salt_at = len(MAGIC) + 2
    return _Header(
        kind,
        raw[salt_at : salt_at + SALT_SIZE],
        raw[salt_at + SALT_SIZE : salt_at + SALT_SIZE + NONCE_PREFIX_SIZE],
    )


def decrypt_stream(
    source: BinaryIO,
    dest: BinaryIO,
    *,
    key: bytes,
    expected_kind: bytes | None = None,
    on_chunk: Callable[[int], None] | None = None,
) -> str:
    """Decrypt `source` into `dest`, checking every chunk, their order, the end of the stream and
    the plaintext's SHA-256. Raises BackupError on any problem; `dest` must then be discarded."""
    full_header = source.read(HEADER_SIZE)
    header = _parse_header(full_header)
    if expected_kind is not None and header.kind != expected_kind:
        raise BackupError(
            f"This is a {KINDS[header.kind]} backup; the configured database is "
            f"{KINDS[expected_kind]}."
        )
    enc_key, check_key = _file_keys(key, header.salt)
    expected_check = hmac.digest(check_key, header.without_check(), "sha256")[:KEY_CHECK_SIZE]
    if not hmac.compare_digest(expected_check, full_header[-KEY_CHECK_SIZE:]):
        raise BackupError("BACKUP_KEY does not open this backup (wrong key, or a damaged header).")
    aead = AESGCM(enc_key)
    digest = hashlib.sha256()
    block_size = CHUNK_SIZE + TAG_SIZE
    counter = 0
    block = _read_full(source, block_size)
    held = b""  # the last DIGEST_SIZE bytes seen may be the checksum, not data
    while True:
        following = _read_full(source, block_size)
        last = not following
        if len(block) <= TAG_SIZE or (not last and len(block) < block_size):
            raise BackupError("The backup is truncated (its final chunk is missing or cut).")
        try:
            plain = aead.decrypt(_nonce(header.nonce_prefix, counter, last), block, full_header)
        except InvalidTag as exc:
            raise BackupError(
                f"The backup is damaged or truncated: chunk {counter} fails authentication."
            ) from exc
        held += plain
        if len(held) < DIGEST_SIZE:  # only possible on a last chunk (others hold CHUNK_SIZE)
            raise BackupError("The backup is truncated (no checksum at its end).")
        data, held = held[:-DIGEST_SIZE], held[-DIGEST_SIZE:]
        digest.update(data)
        dest.write(data)
        if on_chunk is not None:
            on_chunk(counter)
        if last:
            if not hmac.compare_digest(held, digest.digest()):
                raise BackupError("The backup's SHA-256 checksum does not match its content.")
            return digest.hexdigest()
        counter += 1
        block = following
