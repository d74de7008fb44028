"""Callers' data at rest: AES-GCM ciphertexts tagged with their key's id, and a keyed
HMAC blind index so a caller's tickets can still be found by phone.

A ciphertext reads ``v1:<key id>:<base64(nonce | ciphertext+tag)>``. The current key
(HOTLINE_DATA_KEY) encrypts; it and the old keys (HOTLINE_DATA_KEYS_OLD) decrypt, so a
key is rotated by adding the new one, moving the old one to the old list and running
`hotline keys rotate`, which re-encrypts row by row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hotline.privacy import phones

log = structlog.get_logger(__name__)
VERSION = "v1"


class DataKeyError(ValueError):
    """A data key that cannot be used; the message says what to do."""


def parse_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DataKeyError(
            "a data key is 32 bytes in base64 (`hotline keys generate` makes one)"
        ) from None
    if len(key) != 32:
        raise DataKeyError(f"a data key is 32 bytes, this one is {len(key)}")
    return key


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"hotline-key-id" + key).hexdigest()[:12]


@dataclass(frozen=True)
class SealedCaller:
    """A caller as stored: the name in clear unless confidential (保密), the phone only
    encrypted, with its blind index and the mask everyone may see."""

    name: str | None = None
    name_enc: str | None = None
    phone_enc: str | None = None
    phone_bidx: str | None = None
    phone_mask: str | None = None


class Vault:
    def __init__(self, current: bytes, old: list[bytes] | None = None) -> None:
        self.current_id = key_id(current)
        self._keys = {key_id(k): k for k in [*(old or []), current]}
        self._aead = {kid: AESGCM(k) for kid, k in self._keys.items()}
        self._index_keys = {
            kid: hmac.new(k, b"hotline-blind-index", hashlib.sha256).digest()
            for kid, k in self._keys.items()
        }

    def encrypt(self, text: str) -> str:
        nonce = os.urandom(12)
        sealed = self._aead[self.current_id].encrypt(nonce, text.encode(), self.current_id.encode())
        return f"{VERSION}:{self.current_id}:{base64.b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str) -> str:
        version, kid, payload = token.split(":", 2)
        if version != VERSION or kid not in self._aead:
            raise DataKeyError(f"no key {kid!r} to decrypt with: add it to HOTLINE_DATA_KEYS_OLD")
        raw = base64.b64decode(payload)
        return self._aead[kid].decrypt(raw[:12], raw[12:], kid.encode()).decode()

    def is_current(self, token: str) -> bool:
        return token.startswith(f"{VERSION}:{self.current_id}:")

    def blind_index(self, phone: str, kid: str | None = None) -> str:
        key = self._index_keys[kid or self.current_id]
        return hmac.new(key, phone.encode(), hashlib.sha256).hexdigest()

    def blind_indexes(self, phone: str) -> list[str]:
        """Under every key: rows not yet rotated are found too."""
        return [self.blind_index(phone, kid) for kid in self._index_keys]

    def seal_caller(self, name: str | None, phone: str | None, confidential: bool) -> SealedCaller:
        return SealedCaller(
            name=None if confidential else name,
            name_enc=self.encrypt(name) if confidential and name is not None else None,
            phone_enc=None if phone is None else self.encrypt(phone),
            phone_bidx=None if phone is None else self.blind_index(phone),
            phone_mask=phones.mask(phone),
        )

    def reveal(self, sealed: SealedCaller) -> tuple[str | None, str | None]:
        """The caller's name and full phone, in clear."""
        name = sealed.name if sealed.name_enc is None else self.decrypt(sealed.name_enc)
        phone = None if sealed.phone_enc is None else self.decrypt(sealed.phone_enc)
        return name, phone


def load(data_key: str | None, old_keys: str, key_file: str | None, *, embedded: bool) -> Vault:
    """The vault from settings. The embedded SQLite default makes a key file on first run
    (and says so once); elsewhere a missing key stops the start with a clear message."""
    old = [parse_key(k) for k in old_keys.split(",") if k.strip()]
    if data_key:
        return Vault(parse_key(data_key), old)
    if not embedded:
        raise DataKeyError(
            "HOTLINE_DATA_KEY is not set: callers' phone numbers are stored encrypted and "
            "this database needs a key. Make one with `hotline keys generate`, keep it in "
            "your secret store, and set HOTLINE_DATA_KEY to it."
        )
    path = Path(key_file or "hotline.key")
    if path.exists():
        return Vault(parse_key(path.read_text(encoding="ascii")), old)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it a moment ago
        return Vault(parse_key(path.read_text(encoding="ascii")), old)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(new_key_text())
    log.warning(
        "data_key_generated",
        path=str(path.resolve()),
        hint="back this file up with the database: without it callers' phones cannot be read",
    )
    return Vault(parse_key(path.read_text(encoding="ascii")), old)
