"""The backup file format: whatever happens to the bytes, decryption either returns exactly what
was encrypted or refuses (issue 11: a checksum restore verifies; tampering and truncation found)."""

from __future__ import annotations

import base64
import io
import os

import pytest

from infusionclinic.ops import crypto
from infusionclinic.ops.crypto import CHUNK_SIZE, HEADER_SIZE, TAG_SIZE, BackupError

KEY = os.urandom(32)
BLOCK = CHUNK_SIZE + TAG_SIZE


def seal(data: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(data), out, key=key, kind=crypto.KIND_SQLITE)
    return out.getvalue()


def unseal(raw: bytes, key: bytes = KEY) -> bytes:
    out = io.BytesIO()
    crypto.decrypt_stream(io.BytesIO(raw), out, key=key)
    return out.getvalue()


@pytest.mark.parametrize(
    "size",
    [
        0,
        1,
        CHUNK_SIZE - 33,
        CHUNK_SIZE - 32,
        CHUNK_SIZE - 31,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        3 * CHUNK_SIZE + 17,
    ],
)
def test_round_trip_returns_exactly_the_plaintext_at_every_chunk_boundary(size: int) -> None:
    data = os.urandom(size)
    assert unseal(seal(data)) == data


def test_two_backups_of_the_same_data_share_no_ciphertext() -> None:
    data = b"chart" * 1000
    first, second = seal(data), seal(data)
    assert first[HEADER_SIZE:] != second[HEADER_SIZE:]
    assert data not in first


def test_a_changed_byte_anywhere_is_refused() -> None:
    raw = seal(os.urandom(2 * CHUNK_SIZE + 100))
    positions = [
        0,
        9,
        12,
        30,
        HEADER_SIZE - 1,
        HEADER_SIZE,
        HEADER_SIZE + BLOCK - 1,
        HEADER_SIZE + BLOCK + 5,
        len(raw) - TAG_SIZE - 1,
        len(raw) - 1,
    ]
    for position in positions:
        tampered = bytearray(raw)
        tampered[position] ^= 0x01
        with pytest.raises(BackupError):
            unseal(bytes(tampered))


def test_a_file_cut_short_anywhere_is_refused_even_at_a_chunk_boundary() -> None:
    raw = seal(os.urandom(3 * CHUNK_SIZE))
    cuts = [
        0,
        5,
        HEADER_SIZE - 1,
        HEADER_SIZE,
        HEADER_SIZE + 1,
        HEADER_SIZE + BLOCK,
        HEADER_SIZE + 2 * BLOCK,
        HEADER_SIZE + 3 * BLOCK,
        len(raw) - 1,
    ]
    for cut in cuts:
        assert cut < len(raw)
        with pytest.raises(BackupError):
            unseal(raw[:cut])


def test_reordered_or_repeated_chunks_are_refused() -> None:
    raw = seal(os.urandom(3 * CHUNK_SIZE + 10))
    header, body = raw[:HEADER_SIZE], raw[HEADER_SIZE:]
    chunks = [body[i : i + BLOCK] for i in range(0, len(body), BLOCK)]
    swapped = [chunks[1], chunks[0], *chunks[2:]]
    repeated = [chunks[0], chunks[0], *chunks[2:]]
    for order in (swapped, repeated):
        with pytest.raises(BackupError, match="fails authentication"):
            unseal(header + b"".join(order))


def test_appended_bytes_are_refused() -> None:
    raw = seal(b"x" * 100)
    with pytest.raises(BackupError):
        unseal(raw + b"\x00" * 16)


def test_wrong_key_is_named_as_such() -> None:
    raw = seal(b"chart data")
    with pytest.raises(BackupError, match="BACKUP_KEY does not open this backup"):
        unseal(raw, key=os.urandom(32))


def test_wrong_magic_is_named_as_such() -> None:
    with pytest.raises(BackupError, match="wrong magic"):
        unseal(b"SQLite format 3\x00" + b"\x00" * 100)


def test_a_postgresql_backup_is_refused_for_sqlite() -> None:
    out = io.BytesIO()
    crypto.encrypt_stream(io.BytesIO(b"dump"), out, key=KEY, kind=crypto.KIND_POSTGRESQL)
    with pytest.raises(BackupError, match="PostgreSQL backup"):
        crypto.decrypt_stream(
            io.BytesIO(out.getvalue()), io.BytesIO(), key=KEY, expected_kind=crypto.KIND_SQLITE
        )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "BACKUP_KEY is not set"),
        ("not base64!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "must be 32 bytes"),
    ],
)
def test_key_from_environment_is_checked(value: str, message: str) -> None:
    with pytest.raises(BackupError, match=message):
        crypto.key_from_env({"BACKUP_KEY": value})


def test_memory_stays_constant_chunks_are_streamed() -> None:
    """The decryptor hands over data chunk by chunk rather than after reading the whole file."""
    raw = seal(os.urandom(5 * CHUNK_SIZE))
    written: list[int] = []

    class Sink(io.RawIOBase):
        def write(self, b):  # type: ignore[no-untyped-def,override]
            written.append(len(b))
            return len(b)

    crypto.decrypt_stream(io.BytesIO(raw), Sink(), key=KEY)  # type: ignore[arg-type]
    assert max(written) <= CHUNK_SIZE
    assert sum(written) == 5 * CHUNK_SIZE
