"""Users index and auth, traffic accounting and enforcement, device sessions."""

from hy2scale.accounts.core import Accounts, AuthResult
from hy2scale.accounts.sessions import Connection
from hy2scale.accounts.users import User

__all__ = ["Accounts", "AuthResult", "Connection", "User"]
