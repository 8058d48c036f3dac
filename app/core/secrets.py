"""Encryption at rest for endpoint keys (Fernet), and the app's secret material on disk."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


def read_or_create_secret(path: Path, make: str) -> str:
    """Read a secret file, or create it (mode 0600) holding `make`."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL: two processes starting at once must not overwrite each other's secret.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(make + "\n")
    return make


def new_token() -> str:
    return "tt_" + secrets.token_urlsafe(32)


class KeyCipher:
    """Encrypts API keys so the database alone never reveals them."""

    def __init__(self, key: str):
        self._fernet = Fernet(key.encode())
        self._key = key.encode()

    def derive(self, purpose: str) -> bytes:
        """A secret for another purpose (e.g. shuffling), the same on every process sharing the key."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    def local_model_token(self) -> str:
        """The bearer token this app's own processes send to its bundled model server (which needs one when
        it listens beyond loopback); never stored, never shown."""
        return "tt_local-" + self.derive("local-models").hex()

    @classmethod
    def from_settings(cls, secret_key: str | None, data_dir: Path) -> KeyCipher:
        key = secret_key or read_or_create_secret(data_dir / "secret.key", Fernet.generate_key().decode())
        return cls(key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise ValueError("stored API key cannot be decrypted: was TRIPTYCH_SECRET_KEY changed?") from exc
