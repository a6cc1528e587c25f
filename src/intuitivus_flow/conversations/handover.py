"""When a conversation goes to a person: the contact asks for one, or the agent says it is not
confident. Plain rules, no model call, so a request for a person is honoured even when every
LLM provider is down.

A request is a phrase that names a person ("human", "atendente", "persona real"...) next to a
wish to talk ("talk to", "falar com", "hablar con"...), or a message that is hardly more than
such a name ("atendente!", "human please"). A negation before it ("I don't want to talk to a
human", "não preciso de atendente") is not a request, and neither are the words used for
something else ("pessoa física", "human resources", "are you human?").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# The agent's way of saying it should not answer: an instruction added to its system prompt
# (see `AGENT_INSTRUCTION`) and parsed from its reply.
MARKER = "[[handover]]"
AGENT_INSTRUCTION = (
    "If you are not confident you can answer correctly, or the contact needs something only "
    f"a person can do, reply with exactly {MARKER} followed by a one-line reason for the "
    "team, and nothing else. A person will then take over the conversation."
)
# Only at the start of the reply: a reply quoting the contact (who may type the marker) is
# not the agent asking.
_MARKER_PATTERN = re.compile(r"\s*\[\[\s*handover\s*\]\]", re.IGNORECASE)


class Language(StrEnum):
    en = "en"
    pt = "pt"
    es = "es"


# What the contact is told when a person takes over, in the language they wrote in.
HANDOVER_MESSAGES = {
    Language.en: "Thank you for your patience. I am passing you to a person from our team, "
    "who will reply here shortly.",
    Language.pt: "Obrigado pela paciência. Vou passar você para uma pessoa da nossa equipe, "
    "que responderá aqui em breve.",
    Language.es: "Gracias por tu paciencia. Te paso con una persona de nuestro equipo, que te "
    "responderá aquí en breve.",
}

# Words for a person (accents stripped, lower case).
_PERSON = {
    Language.en: r"(?:a |an |some |real |live |actual )*(?:human(?: being| agent)?|person|"
    r"somebody|someone|agent|representative|rep|operator|attendant|staff|"
    r"(?:customer )?(?:support|service) (?:agent|rep|representative|team)|manager|"
    r"real person|live agent|live person)",
    Language.pt: r"(?:um |uma |algum |alguma |com )*(?:atendente|humano|humana|pessoa|"
    r"operador|operadora|gente|alguem|agente humano|consultor|consultora|vendedor|vendedora)",
    Language.es: r"(?:un |una |alguna |algun )*(?:humano|humana|persona|agente|operador|"
    r"operadora|asesor|asesora|alguien|representante|ejecutivo|ejecutiva)",
}
# A wish to be put through to someone.
_WISH = {
    Language.en: r"(?:talk|speak|chat|connect|transfer|put|get|reach)\w*(?: me)?"
    r"(?: (?:with|to|through to|through))?|(?:i|we) (?:want|need|would like|'d like)"
    r"(?: to (?:talk|speak) (?:with|to))?|(?:give|pass|hand) me(?: over)?(?: to)?|"
    r"is there|can i have|let me (?:talk|speak) (?:to|with)",
    Language.pt: r"(?:falar|conversar|chamar|passar|transferir|transfere|chama|passa|"
    r"quero|queria|preciso|gostaria de falar)\w*(?: (?:com|pra|para|me|de|um|uma))*|"
    r"tem (?:algum|alguma|um|uma)?|me (?:passa|transfere|coloca)(?: (?:com|pra|para))?",
    Language.es: r"(?:hablar|conversar|llamar|pasar|transferir|comunicar|comunicarme|"
    r"quiero|quisiera|necesito|me pasas|pasame|ponme)\w*(?: (?:con|a|me|un|una))*|"
    r"hay (?:algun|alguna|un|una)?",
}
_NEGATION = {
    Language.en: r"\b(?:not?|don'?t|do not|never|no need|without|doesn'?t|isn'?t)\b",
    Language.pt: r"\b(?:nao|nem|nunca|sem|dispenso)\b",
    Language.es: r"\b(?:no|ni|nunca|sin)\b",
}
# Uses of the same words that ask for no one.
_NOT_A_REQUEST = re.compile(
    r"pessoa (?:fisica|juridica)|persona (?:fisica|juridica|moral)|human (?:resources|rights|"
    r"error|body|nature)|recursos humanos|direitos humanos|derechos humanos|"
    r"\b(?:are|r) (?:you|u) (?:a )?(?:human|real|bot|robot)|voce e (?:um )?(?:humano|robo)|"
    r"eres (?:un )?(?:humano|robot|bot)|\bpersonal\b|\bpersonally\b"
)
_PLEASE = r"(?:please|pls|plz|por favor|pf|porfa|agora|ahora|now|urgente|asap)"


@dataclass(frozen=True, slots=True)
class Request:
    """The contact asked for a person, in this language."""

    language: Language


def asks_for_person(text: str) -> Request | None:
    """A request for a person in `text` (English, Portuguese or Spanish), else None."""
    normal = _normalise(text)
    if not normal or _NOT_A_REQUEST.search(normal):
        return None
    for language in Language:
        if _matches(normal, language):
            return Request(language)
    return None


def _matches(normal: str, language: Language) -> bool:
    person = _PERSON[language]
    greeting = rf"(?:{_PLEASE}|hi|hello|ola|hola|oi)"
    if re.fullmatch(rf"(?:{greeting} )*{person}(?: {_PLEASE})*", normal):
        return True
    for found in re.finditer(rf"\b(?:{_WISH[language]}) {person}\b", normal):
        # A negation shortly before the wish ("I don't want to talk to a human") asks for no one.
        before = normal[max(0, found.start() - 24) : found.start()]
        if not re.search(_NEGATION[language], before) and not re.search(
            _NEGATION[language], found.group(0)
        ):
            return True
    return False


def _normalise(text: str) -> str:
    """Lower case, accents and punctuation gone, one space between words."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    plain = plain.replace("\u2019", "'")  # a typographic apostrophe ("don\u2019t")
    return " ".join(re.sub(r"[^\w' ]+", " ", plain).split())


def language_of(text: str) -> Language:
    """A rough guess of the contact's language, for the hand-over message: common words of
    each language counted; English when nothing says otherwise."""
    words = set(_normalise(text).split())
    scores = {
        Language.pt: len(words & _PT_WORDS),
        Language.es: len(words & _ES_WORDS),
        Language.en: len(words & _EN_WORDS),
    }
    best = max(scores, key=lambda language: scores[language])
    return best if scores[best] else Language.en


_PT_WORDS = frozenset(
    {
        "voce",
        "nao",
        "com",
        "uma",
        "quero",
        "falar",
        "obrigado",
        "obrigada",
        "pessoa",
        "atendente",
        "oi",
        "ola",
        "preciso",
        "meu",
        "minha",
        "estou",
        "tem",
    }
)
_ES_WORDS = frozenset(
    {
        "usted",
        "quiero",
        "hablar",
        "con",
        "una",
        "persona",
        "gracias",
        "hola",
        "necesito",
        "mi",
        "estoy",
        "hay",
        "puedo",
        "favor",
        "ayuda",
        "pedido",
    }
)
_EN_WORDS = frozenset(
    {
        "the",
        "i",
        "you",
        "to",
        "with",
        "can",
        "talk",
        "please",
        "need",
        "want",
        "my",
        "hello",
        "hi",
        "is",
        "a",
        "person",
        "human",
    }
)


@dataclass(frozen=True, slots=True)
class AgentReply:
    """The agent's reply read for the marker: `handover` with the agent's reason, or the text."""

    text: str
    handover: bool
    reason: str


def read_agent_reply(text: str) -> AgentReply:
    """The agent asked to hand over when its reply starts with the marker; what follows the
    marker is its reason for the team (never sent to the contact)."""
    found = _MARKER_PATTERN.match(text)
    if found is None:
        return AgentReply(text, False, "")
    reason = " ".join(text[found.end() :].split())[:300]
    return AgentReply("", True, reason or "the agent was not confident")
