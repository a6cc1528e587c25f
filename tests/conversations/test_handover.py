"""The hand-over rules on a table of real phrasings, requests and look-alikes (issue 17)."""

from __future__ import annotations

import pytest

from intuitivus_flow.conversations.handover import (
    Language,
    asks_for_person,
    language_of,
    read_agent_reply,
)

REQUESTS = [
    ("Can I talk to a human?", Language.en),
    ("can i speak with a real person please", Language.en),
    ("I want to talk to someone", Language.en),
    ("human", Language.en),
    ("Human please!!", Language.en),
    ("agent", Language.en),
    ("Connect me to an agent", Language.en),
    ("I need a representative", Language.en),
    ("transfer me to customer service team", Language.en),
    ("Is there a person I can talk to?", Language.en),
    ("let me speak to a manager", Language.en),
    ("get me a live agent", Language.en),
    ("Let me talk to someone", Language.en),
    ("Quero falar com um atendente", Language.pt),
    ("atendente", Language.pt),
    ("Atendente por favor", Language.pt),
    ("quero falar com uma pessoa", Language.pt),
    ("Posso falar com um humano?", Language.pt),
    ("preciso de um atendente agora", Language.pt),
    ("me passa pra um atendente", Language.pt),
    ("tem alguém aí para falar comigo? quero falar com alguém", Language.pt),
    ("HUMANO", Language.pt),
    ("Quiero hablar con una persona", Language.es),
    ("¿Puedo hablar con un agente humano?", Language.es),
    ("necesito un asesor", Language.es),
    ("pásame con un operador por favor", Language.es),
    ("quisiera hablar con alguien", Language.es),
    ("persona", Language.es),
]

NOT_REQUESTS = [
    "What are your opening hours?",
    "I don't want to talk to a human",
    "No need for a person, thanks",
    "Are you a human?",
    "are u a bot",
    "This is about human resources",
    "I personally prefer the blue one",
    "Personal data request",
    "Não quero falar com atendente",
    "não preciso de atendente, obrigado",
    "Sou pessoa física, posso comprar?",
    "Você é um robô?",
    "a pessoa que comprou não sou eu",
    "No quiero hablar con una persona",
    "Es para persona física o moral?",
    "¿Eres humano?",
    "Los derechos humanos importan",
    "Quanto custa o plano?",
    "The agent told me the price yesterday, is it still valid?",
    "",
    "   ",
]


@pytest.mark.parametrize(("text", "language"), REQUESTS)
def test_requests_for_a_person_are_recognised(text: str, language: Language) -> None:
    found = asks_for_person(text)
    assert found is not None, text
    assert found.language is language, text


@pytest.mark.parametrize("text", NOT_REQUESTS)
def test_look_alikes_and_negations_are_not_requests(text: str) -> None:
    assert asks_for_person(text) is None, text


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Olá, quero saber o preço", Language.pt),
        ("Hola, necesito ayuda con mi pedido", Language.es),
        ("Hello, I need help with my order", Language.en),
        ("12345", Language.en),
    ],
)
def test_language_guess_for_the_handover_message(text: str, language: Language) -> None:
    assert language_of(text) is language


def test_the_marker_hands_over_with_the_agents_reason() -> None:
    reply = read_agent_reply("[[HANDOVER]] asks about a refund for order 42")
    assert reply.handover
    assert reply.reason == "asks about a refund for order 42"
    assert reply.text == ""
    assert read_agent_reply("[[ handover ]]").reason == "the agent was not confident"
    # Quoting the contact, who typed the marker, is no request (the offline echo does this).
    assert not read_agent_reply("You said: [[handover]] now").handover
    plain = read_agent_reply("Our shop opens at 9.")
    assert (plain.handover, plain.text) == (False, "Our shop opens at 9.")
