"""Admin authentication: argon2id at rest, hashed sliding session tokens, long-lived API tokens.

Wire format (kept from the original): the browser sends the lowercase SHA-256 hex of the password.
That hex string is the effective secret, so at rest we keep only an argon2id hash of it.
Session and API tokens are random; only their SHA-256 is stored (they are high-entropy, so a fast
hash is enough and lookups stay O(1)).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from hy2scale import keygen

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD_SHA = hashlib.sha256(b"admin").hexdigest()
DEFAULT_SESSION_TIMEOUT_H = 12.0
API_TOKEN_PREFIX = "hy2t_"
# Concurrent argon2 computations (each briefly takes 64 MiB).
ARGON2_CONCURRENCY = 2
# A sliding expiry is rewritten only when it moved this much, so polling does not write on every call.
_TOUCH_INTERVAL_S = 60.0

# argon2id at rest, shared with the first run and the CLI's reset-admin.
hash_secret = keygen.hash_admin_secret
verify_secret = keygen.verify_admin_secret


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthFailed(Exception):
    """Wrong username or password."""


@dataclass(frozen=True)
class Principal:
    kind: Literal["session", "api_token", "relay"]
    token_id: str  # digest of the session/API token, or the relay auth id


class AuthService:
    """Admin credentials and tokens over the node's store (``admin``, ``api_sessions``, ``api_tokens``)."""

    def __init__(self, store: Any, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._argon2_slots = asyncio.Semaphore(ARGON2_CONCURRENCY)

    # ---- admin credentials -------------------------------------------------------------------

    def admin(self) -> dict[str, Any]:
        """The admin row; a missing row is the first-run admin/admin, persisted at once."""
        row = self._store.admin.get()
        if not row or not row.get("password_hash"):
            row = {
                "username": DEFAULT_USERNAME,
                "password_hash": hash_secret(DEFAULT_PASSWORD_SHA),
                "force_password_change": True,
            }
            self._store.admin.put(**row)
        return row

    def force_password_change(self) -> bool:
        return bool(self.admin().get("force_password_change"))

    async def _argon2[T](self, fn: Callable[..., T], *args: Any) -> T:
        """argon2 is deliberately slow and takes 64 MiB per call: off the event loop, and a few
        at a time so a burst of logins cannot exhaust memory."""
        async with self._argon2_slots:
            return await asyncio.to_thread(fn, *args)

    async def check_credentials(self, username: str, password_sha: str) -> bool:
        admin = self.admin()
        # It always runs, so a wrong username takes as long as a wrong password.
        password_ok = await self._argon2(verify_secret, admin["password_hash"], password_sha.lower())
        username_ok = hmac.compare_digest(username.encode(), str(admin["username"]).encode())
        return password_ok and username_ok

    async def login(self, username: str, password_sha: str) -> tuple[str, bool]:
        """Returns ``(token, force_password_change)``; raises ``AuthFailed``."""
        if not await self.check_credentials(username, password_sha):
            raise AuthFailed
        token = secrets.token_hex(16)
        now = self._clock()
        self._store.api_sessions.delete_expired(now)  # garbage-collect old sessions at each login
        self._store.api_sessions.create(
            {
                "token_hash": token_digest(token),
                "created_at": now,
                "expires_at": now + self.session_timeout_s(),
            }
        )
        return token, self.force_password_change()

    async def change_password(
        self, current_sha: str, new_username: str, new_password_sha: str, keep_token_id: str = ""
    ) -> None:
        """Raises ``AuthFailed`` on a wrong current password; drops every session but ``keep_token_id``."""
        admin = self.admin()
        if not await self._argon2(verify_secret, admin["password_hash"], current_sha.lower()):
            raise AuthFailed
        updated = dict(admin)
        if new_username:
            updated["username"] = new_username
        if new_password_sha:
            updated["password_hash"] = await self._argon2(hash_secret, new_password_sha.lower())
            updated["force_password_change"] = new_password_sha.lower() == DEFAULT_PASSWORD_SHA
        with self._store.transaction():
            self._store.admin.put(**updated)
            for session in self._store.api_sessions.list():
                if session["token_hash"] != keep_token_id:
                    self._store.api_sessions.delete(session["token_hash"])

    # ---- sessions ----------------------------------------------------------------------------

    def session_timeout_s(self) -> float:
        hours = self._store.sections.get("ui").get("session_timeout_h") or 0
        try:
            hours = float(hours)
        except (TypeError, ValueError):
            hours = 0.0
        return (hours if hours > 0 else DEFAULT_SESSION_TIMEOUT_H) * 3600.0

    def check_token(self, token: str) -> Principal | None:
        """The principal for a session or API token, sliding the session's expiry; None if invalid."""
        if not token:
            return None
        digest = token_digest(token)
        if token.startswith(API_TOKEN_PREFIX):
            return self._check_api_token(digest)
        session = self._store.api_sessions.get(digest)
        if session is None:
            return None
        now = self._clock()
        expires_at = float(session.get("expires_at", 0))
        if now >= expires_at:
            self._delete_session(digest)
            return None
        # Sliding expiry; the timeout is read live so a changed session_timeout_h applies at the next use.
        new_expiry = now + self.session_timeout_s()
        if abs(new_expiry - expires_at) >= _TOUCH_INTERVAL_S:
            self._store.api_sessions.update(digest, {"expires_at": new_expiry})
        return Principal("session", digest)

    def logout(self, token_id: str) -> None:
        self._delete_session(token_id)

    def purge_expired(self) -> int:
        """Drops expired sessions; returns how many went."""
        return self._store.api_sessions.delete_expired(self._clock())

    def _delete_session(self, digest: str) -> None:
        if self._store.api_sessions.get(digest) is not None:
            self._store.api_sessions.delete(digest)

    # ---- long-lived API tokens -----------------------------------------------------------------

    def create_api_token(self, name: str) -> tuple[dict[str, Any], str]:
        """Returns ``(record, secret)``; the secret is shown once and only its digest is stored."""
        secret = API_TOKEN_PREFIX + secrets.token_hex(24)
        record = self._store.api_tokens.create(
            {
                "id": secrets.token_hex(8),
                "name": name,
                "token_hash": token_digest(secret),
                "created_at": self._clock(),
                "last_used": 0.0,
            }
        )
        return record, secret

    def list_api_tokens(self) -> list[dict[str, Any]]:
        return self._store.api_tokens.list()

    def revoke_api_token(self, token_id: str) -> bool:
        """False when there is no such token."""
        if self._store.api_tokens.get(token_id) is None:
            return False
        self._store.api_tokens.delete(token_id)
        return True

    def _check_api_token(self, digest: str) -> Principal | None:
        record = self._store.api_tokens.find("token_hash", digest)
        if record is None:
            return None
        now = self._clock()
        if now - float(record.get("last_used") or 0) >= _TOUCH_INTERVAL_S:
            self._store.api_tokens.update(record["id"], {"last_used": now})
        return Principal("api_token", record["id"])
