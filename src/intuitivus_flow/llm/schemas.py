from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, model_validator

from intuitivus_flow.llm.providers import ProviderKind

# The limits are BIGINT columns: anything larger overflowed the database (a 500, not a 422).
MAX_BIGINT = 2**63 - 1
# $1,000 per million tokens, far above any list price; the price columns are 32-bit.
MAX_PRICE_MICROS_PER_MILLION = 1_000_000_000
BASE_URL_MAX_LENGTH = 500  # the column's length, checked on the normalised URL that is stored
# Vendors' keys are printable ASCII without spaces, and HTTP headers carry nothing else.
API_KEY_PATTERN = r"^[\x21-\x7e]*$"


def _base_url_shape(url: HttpUrl) -> HttpUrl:
    # A query string or fragment would swallow the API path appended to the base URL (the
    # probe chose the path on an internal server that way); credentials belong in api_key.
    if url.query is not None or url.fragment is not None:
        raise ValueError("a base URL has no query string or fragment")
    if url.username is not None or url.password is not None:
        raise ValueError("a base URL has no user name or password; use api_key")
    if len(str(url)) > BASE_URL_MAX_LENGTH:
        raise ValueError(f"a base URL has at most {BASE_URL_MAX_LENGTH} characters")
    return url


BaseUrl = Annotated[HttpUrl, AfterValidator(_base_url_shape)]
ApiKey = Annotated[str, Field(max_length=500, pattern=API_KEY_PATTERN)]
TokenLimit = Annotated[int, Field(ge=0, le=MAX_BIGINT)]
CostLimit = Annotated[int, Field(ge=0, le=MAX_BIGINT, description="Micro-USD (1e-6 USD).")]
PriceMicros = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_PRICE_MICROS_PER_MILLION,
        description="Micro-USD per million tokens (0.15 USD per million = 150000); "
        "set both prices or neither.",
    ),
]


class ProviderKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: ProviderKind
    label: str = Field(min_length=1, max_length=120)
    api_key: ApiKey = Field(default="", description="Stored encrypted; never returned.")
    base_url: BaseUrl | None = Field(
        default=None,
        description="Only for (and required by) openai_compatible: the server's URL, e.g. "
        "http://ollama.internal:11434. It must be a public address unless the instance's "
        "operator allows the host or network (FLOW_OUTBOUND_ALLOW).",
    )
    default_model: str = Field(min_length=1, max_length=120, examples=["gpt-4o-mini"])
    priority: int = Field(default=100, ge=0, le=10_000, description="Lower is tried first.")
    monthly_token_limit: TokenLimit | None = None
    monthly_cost_limit_micros: CostLimit | None = None
    prompt_micros_per_million: PriceMicros | None = Field(
        default=None, description="Price of prompt tokens on this key, for every model."
    )
    completion_micros_per_million: PriceMicros | None = Field(
        default=None, description="Price of completion tokens on this key, for every model."
    )

    @model_validator(mode="after")
    def _provider_needs(self) -> ProviderKeyCreate:
        if self.provider is ProviderKind.offline:
            raise ValueError("the offline provider needs no key; it is used when none is set")
        if self.provider is ProviderKind.openai_compatible and self.base_url is None:
            raise ValueError("base_url is required for an OpenAI-compatible provider")
        if self.provider is not ProviderKind.openai_compatible and self.base_url is not None:
            # The vendors' own APIs live at fixed addresses; a base URL only makes the server
            # connect somewhere a workspace chose.
            raise ValueError("base_url is only for an OpenAI-compatible provider")
        if self.provider is not ProviderKind.openai_compatible and not self.api_key:
            raise ValueError("api_key is required for this provider")
        return self


class ProviderKeyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, min_length=1, max_length=120)
    api_key: ApiKey | None = Field(default=None, min_length=1)
    default_model: str | None = Field(default=None, min_length=1, max_length=120)
    priority: int | None = Field(default=None, ge=0, le=10_000)
    monthly_token_limit: TokenLimit | None = None
    monthly_cost_limit_micros: CostLimit | None = None
    prompt_micros_per_million: PriceMicros | None = None
    completion_micros_per_million: PriceMicros | None = None
    active: bool | None = None


class ProviderKeyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    provider: ProviderKind
    label: str
    base_url: str | None
    default_model: str
    key_hint: str = Field(
        description="The last characters of the key; the key itself is never returned."
    )
    priority: int
    monthly_token_limit: int | None
    monthly_cost_limit_micros: int | None
    prompt_micros_per_million: int | None
    completion_micros_per_million: int | None
    active: bool
    created_at: datetime


class ChatTurn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str = Field(pattern="^(user|assistant)$")
    content: str = Field(min_length=1, max_length=32_000)


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: list[ChatTurn] = Field(min_length=1, max_length=100)
    system: str = Field(default="", max_length=32_000)
    model: str | None = Field(
        default=None, max_length=120, description="Default: each key's default model."
    )
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_tokens: int = Field(default=512, ge=1, le=32_000)


class AttemptRead(BaseModel):
    provider: str
    outcome: str


class CompletionRead(BaseModel):
    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int
    latency_ms: float
    attempts: list[AttemptRead]


class UsageRow(BaseModel):
    provider: str
    outcome: str
    calls: int
    tokens: int
    cost_micros: int


class UsageSummary(BaseModel):
    since: datetime
    rows: list[UsageRow]
