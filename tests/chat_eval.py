"""A conversational evaluation set for the embedded chat models: everyday questions and chat
turns, each with the answers accepted (regular expressions, case-insensitive), and the format
rules every answer must keep.

Two parts: `TUNE`, which prompts and settings may be adjusted against, and `HELD_OUT`, which
they must not be (the figures quoted for a choice come from both, the held-out part apart).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from zenglow.engines.base import ChatMessage


@dataclass(frozen=True, slots=True)
class Case:
    turns: tuple[str, ...]  # user turns; all but the last are answered by `context` replies
    accept: str  # a regular expression the last reply must match (case-insensitive)
    context: tuple[str, ...] = ()  # assistant replies between the earlier user turns
    held_out: bool = False

    def messages(self, system: str) -> list[ChatMessage]:
        out: list[ChatMessage] = [{"role": "system", "content": system}]
        for i, user in enumerate(self.turns):
            out.append({"role": "user", "content": user})
            if i < len(self.context):
                out.append({"role": "assistant", "content": self.context[i]})
        return out

    def accepts(self, reply: str) -> bool:
        return re.search(self.accept, reply, re.IGNORECASE) is not None


def _q(question: str, accept: str, *, held_out: bool = False) -> Case:
    return Case((question,), accept, held_out=held_out)


def _h(question: str, accept: str) -> Case:
    return _q(question, accept, held_out=True)


GREETING = r"\b(hello|hi|hey|good|great|well|fine|doing|glad|happy|thanks|thank you)\b"
FAREWELL = r"\b(welcome|bye|goodbye|pleasure|care|soon|anytime|glad|later|night|great)\b"

TUNE: tuple[Case, ...] = (
    _q("How many legs does a spider have?", r"\b(eight|8)\b"),
    _q("How many days are there in a week?", r"\b(seven|7)\b"),
    _q("What animal says moo?", r"\b(cows?|cattle)\b"),
    _q("What is the capital of France?", r"\bparis\b"),
    _q("What color is the sky on a clear day?", r"\bblue\b"),
    _q("How many hours are in a day?", r"\b(24|twenty-four|twenty four)\b"),
    _q("What is two plus two?", r"\b(four|4)\b"),
    _q("Which planet do we live on?", r"\bearth\b"),
    _q("What do bees make?", r"\bhoney\b"),
    _q("What is frozen water called?", r"\b(ice|snow)\b"),
    _q("What is the opposite of hot?", r"\bcold\b"),
    _q("How many months are in a year?", r"\b(twelve|12)\b"),
    _q("What is the largest ocean on Earth?", r"\bpacific\b"),
    _q("What language do people mainly speak in Spain?", r"\bspanish\b"),
    _q("What gas do plants take in from the air?", r"\b(carbon dioxide|co2|co₂)\b"),
    _q("Which season comes after winter?", r"\bspring\b"),
    _q("What is the capital of Japan?", r"\btokyo\b"),
    _q("How many wheels does a bicycle have?", r"\b(two|2)\b"),
    _q("What do you call a baby dog?", r"\bpupp(y|ies)\b"),
    _q("Hi there!", GREETING),
    _q("Good morning! How are you today?", GREETING),
    _q("Thanks for your help, that's all for now.", FAREWELL),
    _q("Can you tell me a joke?", r"\b(why|what|because|knock|joke|did)\b"),
    _q("What fruit is yellow and curved?", r"\bbananas?\b"),
    _q("What is the boiling point of water in Celsius?", r"\b(100|one hundred|hundred)\b"),
    Case(
        ("My name is Sam.", "What's my name?"),
        r"\bsam\b",
        context=("Nice to meet you, Sam!",),
    ),
    Case(
        ("I have a cat called Luna.", "What is my cat called?"),
        r"\bluna\b",
        context=("Luna is a lovely name for a cat.",),
    ),
    Case(
        ("I live in Berlin.", "Which country is my city in?"),
        r"\bgermany\b",
        context=("Berlin is a great city to live in.",),
    ),
)

HELD_OUT: tuple[Case, ...] = (
    _h("How many legs does a dog have?", r"\b(four|4)\b"),
    _h("What is the capital of Italy?", r"\brome\b"),
    _h("What color are most leaves in summer?", r"\bgreen\b"),
    _h("What is ten minus three?", r"\b(seven|7)\b"),
    _h("Which animal is known as the king of the jungle?", r"\blions?\b"),
    _h("What do we call the star at the center of our solar system?", r"\bsun\b"),
    _h("How many minutes are in an hour?", r"\b(sixty|60)\b"),
    _h("What is the tallest animal in the world?", r"\bgiraffes?\b"),
    _h("What do cows drink?", r"\bwater\b"),
    _h("What is the capital of the United Kingdom?", r"\blondon\b"),
    _h("What shape has three sides?", r"\btriangles?\b"),
    _h("Which is bigger, an elephant or a mouse?", r"\belephants?\b"),
    _h("What language is spoken in Brazil?", r"\bportuguese\b"),
    _h("Hello! Nice to meet you.", r"\b(nice|pleasure|hello|hi|glad|meet)\b"),
    _h("Good night, talk to you tomorrow!", FAREWELL + r"|\b(sleep|dreams|rest|tomorrow)\b"),
    Case(
        ("My favourite colour is green.", "What is my favourite colour?"),
        r"\bgreen\b",
        context=("Green is a calming colour.",),
        held_out=True,
    ),
)

CASES: tuple[Case, ...] = TUNE + HELD_OUT

# --- format rules ----------------------------------------------------------------------

_LEAKS = re.compile(
    r"<\|[^|>]*\|>|<(start|end)_of_turn>|</?s>|\[/?INST\]|<im_(start|end)>"
    r"|^\s*(user|assistant|system|model)\s*:|\n\s*(user|assistant|system|model)\s*:",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"[.!?]+(?=\s|$)")
MAX_SENTENCES = 2  # Jarvis: one or two short sentences
MAX_WORDS = 40


def format_problems(reply: str, *, short: bool = True) -> list[str]:
    """What is wrong with a reply's form (empty when nothing is): empty, role tags or template
    tokens, code fences, and for Jarvis (`short`) more than two short sentences (of more than
    two words) or more than `MAX_WORDS` words."""
    found = []
    if not reply.strip():
        found.append("empty")
    if _LEAKS.search(reply):
        found.append("role tag or template token")
    if "```" in reply:
        found.append("code fence")
    if short:
        # a one- or two-word exclamation ("Sure!", "Good morning!") is not counted
        sentences = [s for s in _SENTENCE_END.split(reply.strip()) if len(s.split()) > 2]
        if len(sentences) > MAX_SENTENCES:
            found.append(f"{len(sentences)} sentences")
        if len(reply.split()) > MAX_WORDS:
            found.append(f"{len(reply.split())} words")
    return found
