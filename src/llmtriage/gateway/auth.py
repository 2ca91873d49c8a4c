"""API keys: clients send ``Authorization: Bearer <key>``; only sha256 hashes are stored."""

from __future__ import annotations

import hashlib

from llmtriage.config import Config, KeyConfig
from llmtriage.gateway.errors import Unauthorized


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyTable:
    """Looks up the key of a request by the hash of its bearer token."""

    def __init__(self, config: Config) -> None:
        self.by_hash: dict[str, KeyConfig] = {k.hash: k for k in config.auth.keys}

    @property
    def open(self) -> bool:
        """No keys configured: every request is accepted (loopback only, see serve)."""
        return not self.by_hash

    def check(self, authorization: str | None) -> KeyConfig | None:
        if self.open:
            return None
        if not authorization or not authorization.startswith("Bearer "):
            raise Unauthorized("missing bearer token in the Authorization header", "authorization")
        key = self.by_hash.get(hash_key(authorization[7:].strip()))
        if key is None:
            raise Unauthorized("unknown API key", "authorization")
        return key
