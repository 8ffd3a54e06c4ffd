"""Login, logout, password change and long-lived API tokens."""

from __future__ import annotations

from pydantic import BaseModel, Field

from hy2scale.api.schemas.common import Body

SHA256_HEX = r"^[0-9a-fA-F]{64}$"


class LoginRequest(Body):
    username: str = Field(max_length=256)
    password: str = Field(max_length=256, description="lowercase hex SHA-256 of the plaintext password")


class LoginResponse(BaseModel):
    token: str
    force_password_change: bool


class PasswordChange(Body):
    current_password: str = Field(max_length=256, description="SHA-256 hex of the current password")
    new_username: str = Field(default="", max_length=64, pattern=r"^\S*$")
    new_password: str = Field(
        default="", description="SHA-256 hex of the new password; empty keeps it", pattern=r"^$|" + SHA256_HEX
    )


class TokenCreate(Body):
    name: str = Field(min_length=1, max_length=64)


class TokenInfo(BaseModel):
    id: str
    name: str
    created_at: float
    last_used: float = 0.0


class TokenCreated(TokenInfo):
    token: str = Field(description="the secret; shown only in this response")
