"""Lookup tables over the user list: by username and by per-proxy password, with conflicts.

Pure: built from a list of :class:`User`, rebuilt whole whenever the users change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from hy2scale.accounts.users import PASSWORD_ONLY, User


class UserIndex:
    def __init__(self, users: Iterable[User]) -> None:
        self.by_id: dict[str, User] = {}
        self.by_username: dict[str, User] = {}
        # proxy -> effective password -> every user (enabled or not) with that password
        self._by_password: dict[str, dict[str, list[User]]] = {p: defaultdict(list) for p in PASSWORD_ONLY}
        for user in users:
            self.by_id[user.id] = user
            self.by_username.setdefault(user.username, user)
            for proxy in PASSWORD_ONLY:
                password = user.effective_password(proxy)
                if password:
                    self._by_password[proxy][password].append(user)

    def by_password(self, proxy: str, password: str) -> tuple[User | None, bool]:
        """The user owning ``password`` on a password-only proxy, and whether it is conflicted.

        Only enabled users take part in conflicts: two enabled users sharing one password are
        both refused. A password held only by disabled users returns one of them, so the caller
        can answer "disabled" rather than "bad credentials".
        """
        candidates = self._by_password.get(proxy, {}).get(password, [])
        enabled = [u for u in candidates if u.enabled]
        if len(enabled) > 1:
            return None, True
        if enabled:
            return enabled[0], False
        return (candidates[0] if candidates else None), False

    def password_users(self, proxy: str) -> list[tuple[User, str]]:
        """Enabled, unconflicted users allowed on ``proxy`` with their effective password (for SS trial keys)."""
        result = []
        for password, users in self._by_password.get(proxy, {}).items():
            enabled = [u for u in users if u.enabled]
            if len(enabled) == 1 and enabled[0].allows(proxy):
                result.append((enabled[0], password))
        return result

    def conflicts(self) -> dict[str, dict[str, list[str]]]:
        """`{username: {proxy: [other usernames]}}` among enabled users (api.md §3.6.1)."""
        out: dict[str, dict[str, list[str]]] = {}
        for proxy, groups in self._by_password.items():
            for users in groups.values():
                names = [u.username for u in users if u.enabled]
                if len(names) < 2:
                    continue
                for name in names:
                    out.setdefault(name, {})[proxy] = [n for n in names if n != name]
        return out
