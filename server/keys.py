"""Key files: versioned encryption keys that can be rotated, and a stable key for hashing tokens.

Layout of `keys_dir` (created on first run, files created exclusively with mode 0600):
- `encryption.keys`: one line per version, "<version> <Fernet key>"; the highest version encrypts,
  every version decrypts, so rotation adds a line and old ciphertexts keep working.
- `token-hash.key`: the HMAC key that turns API keys and link tokens into lookup hashes. It never
  changes: a new one would invalidate every issued token.
- `host.key`: the host system's API key, unless configured elsewhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

ENCRYPTION_FILE = "encryption.keys"
HASH_FILE = "token-hash.key"


class KeyFileError(Exception):
    """A key file is missing, unreadable or malformed; the message says which and what to do."""


def new_token(nbytes: int = 24) -> str:
    """A URL-safe random secret (`nbytes` * 8 bits of entropy)."""
    return secrets.token_urlsafe(nbytes)


def write_secret_file(path: Path, content: str) -> bool:
    """Create `path` exclusively with mode 0600; return False if it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(content)
    return True


def ensure_key_files(keys_dir: Path, host_key_file: Path | None) -> list[Path]:
    """Generate whichever key files are missing; return the ones created."""
    created = []
    if write_secret_file(keys_dir / ENCRYPTION_FILE, f"1 {Fernet.generate_key().decode()}\n"):
        created.append(keys_dir / ENCRYPTION_FILE)
    if write_secret_file(keys_dir / HASH_FILE, base64.urlsafe_b64encode(os.urandom(32)).decode()
                         + "\n"):
        created.append(keys_dir / HASH_FILE)
    if host_key_file is not None and write_secret_file(host_key_file, new_token(32) + "\n"):
        created.append(host_key_file)
    return created


def read_secret_file(path: Path, what: str) -> str:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: {what} is missing; restore it from the backup of the key "
                           "files (a new one would not decrypt or match existing data)") from None
    except UnicodeDecodeError:
        raise KeyFileError(f"{path}: {what} is not ASCII text (saved as UTF-16 or by an editor "
                           "that changed it?); restore it from the backup of the key files") \
            from None
    except OSError as exc:  # PermissionError, IsADirectoryError, ...
        raise KeyFileError(f"{path}: {what} is not readable ({exc.__class__.__name__}); "
                           "make it readable by the user running bookingcal") from None
    if not text:
        raise KeyFileError(f"{path}: {what} is empty")
    return text


@dataclass(frozen=True)
class Keyring:
    """The loaded keys. Ciphertexts look like "v<version>:<Fernet token>"."""

    versions: dict[int, Fernet]
    hash_key: bytes

    @classmethod
    def load(cls, keys_dir: Path) -> "Keyring":
        versions: dict[int, Fernet] = {}
        path = keys_dir / ENCRYPTION_FILE
        for number, line in enumerate(read_secret_file(path, "the encryption key file")
                                      .splitlines(), 1):
            if not line.strip():
                continue
            try:
                version, key = line.split()
                versions[int(version)] = Fernet(key.encode())
            except ValueError:
                raise KeyFileError(f"{path}:{number}: expected \"<version> <Fernet key>\"") from None
        if not versions:
            raise KeyFileError(f"{path}: holds no key")
        hash_key = read_secret_file(keys_dir / HASH_FILE, "the token hashing key").encode()
        return cls(versions=versions, hash_key=hash_key)

    @property
    def current_version(self) -> int:
        return max(self.versions)

    def encrypt(self, plaintext: str) -> str:
        version = self.current_version
        return f"v{version}:" + self.versions[version].encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        head, _, token = ciphertext.partition(":")
        try:
            return self.versions[int(head.removeprefix("v"))].decrypt(token.encode()).decode()
        except (KeyError, ValueError, InvalidToken):
            raise KeyFileError("a stored secret cannot be decrypted with the key files in use; "
                               "were the key files restored with the database?") from None

    def hash_token(self, token: str) -> str:
        """The lookup hash of a secret token (HMAC-SHA256, hex)."""
        return hmac.new(self.hash_key, token.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, token: str, stored_hash: str) -> bool:
        return hmac.compare_digest(self.hash_token(token), stored_hash)


def add_encryption_key(keys_dir: Path) -> int:
    """Append a new encryption key version; return its number. Stored secrets move to it with
    `bookingcal keys reencrypt` (server/ops/rekey.py)."""
    ring = Keyring.load(keys_dir)
    version = ring.current_version + 1
    path = keys_dir / ENCRYPTION_FILE
    # A file edited or restored without a final newline must not glue the new key to the last.
    separator = "" if path.read_text(encoding="ascii").endswith("\n") else "\n"
    with open(path, "a", encoding="ascii") as handle:
        handle.write(f"{separator}{version} {Fernet.generate_key().decode()}\n")
    return version
