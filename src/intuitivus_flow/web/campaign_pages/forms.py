"""The campaign pages' forms as models: every field the page posts, as text (missing: empty).

FastAPI reads a posted form into these (`Annotated[Model, Form()]`); the actions then turn the
text into the API's schemas, which hold the rules, and put each schema error next to the form
field that holds it.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class CampaignForm(BaseModel):
    def values(self) -> dict[str, str]:
        """The text fields, to refill the form when it fails."""
        return {name: value for name, value in self.model_dump().items() if isinstance(value, str)}


class CreateForm(CampaignForm):
    name: str = ""
    platform: str = ""
    currency: str = ""
    total_budget: str = ""
    daily_budget: str = ""
    starts_at: str = ""


class StatusForm(CampaignForm):
    status: str = ""


class SettingsForm(CampaignForm):
    name: str = ""
    total_budget: str = ""
    daily_budget: str = ""
    starts_at: str = ""
    ends_at: str = ""
    countries: str = ""
    languages: str = ""
    genders: list[str] = Field(default_factory=list)  # one value per ticked box
    age_min: str = ""
    age_max: str = ""
    interests: str = ""
    keywords: str = ""

    def values(self) -> dict[str, str]:
        # The boxes as one line, so the form can be refilled.
        return {**super().values(), "genders": ",".join(self.genders)}


class AudienceForm(CampaignForm):
    audience_tags: str = ""
    agent_id: str = ""


class ConversionForm(CampaignForm):
    contact: str = ""
    value: str = ""


class VersionedForm(CampaignForm):
    # The campaign's steps_version the page showed: an edit from an out-of-date page is refused.
    version: str = ""


class StepForm(VersionedForm):
    kind: str = ""
    position: str = ""
    template: str = ""
    language: str = ""
    parameters: str = ""
    text: str = ""
    duration: str = ""
    unit: str = ""
    on: str = ""
    if_true: str = ""
    if_false: str = ""


class MoveForm(VersionedForm):
    position: str = ""
