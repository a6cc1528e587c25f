"""Choosing the campaigns' sender from settings, and the built-in channel's error mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from intuitivus_flow.billing.exceptions import PlanLimitReached
from intuitivus_flow.billing.plans import PLANS, Limit, PlanId
from intuitivus_flow.campaigns.automation.senders import (
    ChannelNotConfigured,
    ContactUnreachable,
    ConversationsSender,
    MessageQuotaReached,
    _channel_errors,
    sender_from_settings,
)
from intuitivus_flow.config import ConfigurationError, Settings
from intuitivus_flow.kit.errors import InvalidInput, NotFound
from tests.campaigns.process_sender import ProcessSender


def settings(tmp_path: Path, sender: str | None) -> Settings:
    return Settings(env="test", data_dir=tmp_path, campaign_sender=sender)


def test_default_is_the_conversations_channel(tmp_path: Path) -> None:
    assert isinstance(sender_from_settings(settings(tmp_path, None)), ConversationsSender)


def test_a_configured_factory_is_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_TEST_CAMPAIGN_DIR", str(tmp_path))
    loaded = sender_from_settings(settings(tmp_path, "tests.campaigns.process_sender:build"))
    assert isinstance(loaded, ProcessSender)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("tests.campaigns.nowhere:build", "cannot load"),
        ("tests.campaigns.process_sender:missing", "cannot load"),
        ("tests.campaigns.test_senders:not_a_sender", "did not build a sender"),
    ],
)
def test_a_bad_factory_is_a_configuration_error(tmp_path: Path, path: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        sender_from_settings(settings(tmp_path, path))


def not_a_sender(_: Settings) -> object:
    return object()


@pytest.mark.parametrize(
    ("raised", "expected", "text"),
    [
        (NotFound("Contact not found"), ContactUnreachable, "the contact no longer exists"),
        (InvalidInput("opted out", field="contact_id"), ContactUnreachable, "opted out"),
        (InvalidInput("No WhatsApp number"), ChannelNotConfigured, "No WhatsApp number"),
        (
            PlanLimitReached(PLANS[PlanId.free], Limit.monthly_messages, allowed=1, used=1),
            MessageQuotaReached,
            "monthly message quota: The Free plan allows 1 monthly messages",
        ),
    ],
)
def test_channel_refusals_map_to_engine_outcomes(
    raised: Exception, expected: type[Exception], text: str
) -> None:
    with pytest.raises(expected, match=text), _channel_errors():
        raise raised
