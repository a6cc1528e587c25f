from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from intuitivus_flow.identity.roles import Role

# Long enough to resist guessing, capped so hashing cost stays bounded (argon2 reads it all).
PASSWORD_FIELD = Field(min_length=10, max_length=256)


class Register(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    password: str = PASSWORD_FIELD
    name: str = Field(default="", max_length=120)
    workspace_name: str = Field(min_length=1, max_length=120)
    licence_key: str | None = Field(
        default=None,
        max_length=100,
        description="A licence key bought on a payment platform (required when the server "
        "sets FLOW_SIGNUP_REQUIRES_LICENCE).",
    )


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    refresh_token: str = Field(min_length=1, max_length=4096)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = PASSWORD_FIELD


class PasswordResetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)


class PasswordResetAccepted(BaseModel):
    detail: str = Field(description="The same sentence whether or not the address has an account.")


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=256, description="The `token` of the link.")
    new_password: str = PASSWORD_FIELD


class AcceptInvitation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=10, max_length=256)
    password: str = PASSWORD_FIELD
    name: str = Field(default="", max_length=120)


class TokenPair(BaseModel):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int = Field(description="Access-token lifetime in seconds.")


class WorkspaceSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str


class Me(BaseModel):
    id: uuid.UUID | None
    email: str | None
    name: str | None
    role: Role
    scopes: list[str]
    workspace: WorkspaceSummary
    via: str = Field(description="'token' for a signed-in user, 'api_key' for a machine key.")
