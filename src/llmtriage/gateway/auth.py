"""API keys: clients send ``Authorization: Bearer <key>``; only sha256 hashes are kept.

Client keys come from the config (``auth.keys``) and from the store (``llmtriage keys create``
or ``POST /v1/admin/keys``); each replica re-reads the store's every ``auth.refresh_s`` seconds,
so a key created or revoked anywhere takes effect everywhere within that time. The admin key
(``auth.admin_key_hash``) opens the management endpoints only: it cannot make completions, so
no key gets past the budgets. With no key of any kind the gateway is open (loopback only, see
``server.check_exposure``).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from llmtriage.config import Config, KeyLimits
from llmtriage.gateway.errors import Forbidden, Unauthorized
from llmtriage.store.base import KeyRecord, Store

logger = logging.getLogger(__name__)
KEY_PREFIX = "lt-"


def hash_key(key: str) -> str:
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh client key (shown once; only its hash is stored)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class ClientKey:
    """A client key as the gateway enforces it."""

    name: str
    limits: KeyLimits
    models: frozenset[str] | None  # the models it may reach; None: all

    @property
    def limited(self) -> bool:
        lim = self.limits
        return any(
            v is not None
            for v in (
                lim.budget_usd_per_day,
                lim.budget_usd_per_month,
                lim.requests_per_minute,
                lim.tokens_per_minute,
            )
        )


def create_key(store: Store, name: str, limits: KeyLimits) -> str:
    """Make a client key, store its hash and limits; returns the key itself (shown once).
    ValueError if the name is taken."""
    key = new_key()
    store.add_key(KeyRecord(name, hash_key(key), limits.model_dump(exclude_none=True), time.time()))
    return key


def _bearer(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token in the Authorization header", "authorization")
    return token.strip()


class KeyTable:
    """Looks up the key of a request by the hash of its bearer token."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._admin = config.auth.admin_key_hash
        self._tier_models = {t.name: set(t.models) for t in config.tiers}
        self._by_hash: dict[str, ClientKey] = {}
        self.load(())

    def _client_key(self, name: str, limits: KeyLimits) -> ClientKey:
        allowed: set[str] | None = None
        if limits.models is not None:
            allowed = set(limits.models)
        if limits.tiers is not None:
            in_tiers = set().union(*(self._tier_models.get(t, set()) for t in limits.tiers))
            allowed = in_tiers if allowed is None else allowed & in_tiers
        return ClientKey(name, limits, None if allowed is None else frozenset(allowed))

    def load(self, stored: Iterable[KeyRecord]) -> None:
        """Rebuild the table: the config's keys, then the store's active ones."""
        table = {k.hash: self._client_key(k.name, k) for k in self._config.auth.keys}
        names = {k.name for k in table.values()}
        for rec in stored:
            if rec.revoked_at is not None:
                continue
            if rec.name in names:
                logger.warning("auth: stored key %r shadows a config key; ignored", rec.name)
                continue
            table[rec.hash] = self._client_key(rec.name, KeyLimits.model_validate(rec.limits))
        self._by_hash = table

    @property
    def open(self) -> bool:
        """No keys at all: every request is accepted (loopback only, see serve)."""
        return not self._by_hash and self._admin is None

    def names(self) -> set[str]:
        return {k.name for k in self._by_hash.values()}

    def check(self, authorization: str | None) -> ClientKey | None:
        """The client key of a request (None when the gateway is open)."""
        if self.open:
            return None
        digest = hash_key(_bearer(authorization))
        key = self._by_hash.get(digest)
        if key is not None:
            return key
        if digest == self._admin:
            raise Unauthorized(
                "the admin key opens the management endpoints only; use a client key",
                "authorization",
            )
        raise Unauthorized("unknown API key", "authorization")

    def check_admin(self, authorization: str | None) -> None:
        """Raise unless the request carries the admin key."""
        if self._admin is None:
            raise Forbidden("the admin API is disabled: set auth.admin_key_hash", "authorization")
        if not secrets.compare_digest(hash_key(_bearer(authorization)), self._admin):
            raise Unauthorized("the admin key is required here", "authorization")
