"""Which persona answers a user turn: addressing, stickiness and analytical escalation (pure).

`route(transcript, rules=..., sticky=...)` applies, in order:

1. A stick phrase ("Leonardo, stay with me", "switch to Jarvis") sets `sticky`; an unstick phrase
   ("back to automatic", "either of you") clears it and routes the rest of the turn as below.
   When both occur, the later one wins.
2. Addressing by name always wins (and keeps `sticky`).  Recognised case and punctuation are
   unreliable, so a name is an address only in a vocative position: first (after fillers and
   openers: "um", "so", "hey") and followed by a pause mark, the end, or a request ("leonardo can
   you"), but not by a surname particle ("Leonardo da Vinci"), a narrative verb ("Jarvis said")
   or an auxiliary without a pronoun ("Jarvis is a film character"; "jarvis is it raining" is an
   address); last, after a comma ("what do you think, Leonardo?") or, in a question or request,
   after a word that does not take the name as object ("tell me about leonardo" is a mention);
   mid-turn only between commas.  A name split in two by the recogniser ("leo nardo") is joined.
3. With `sticky` set, that persona answers.
4. A question about the user's documents ("according to my notes", "in the handbook") goes to
   the analyst, who answers from them (reason "documents"; `asks_documents`).
5. Otherwise `classify` decides: analytical turns go to the analyst (`escalated`: the caller
   speaks a `handoff_line`), the rest to the default persona.
"""

from __future__ import annotations

import re
import zlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, dropwhile
from types import MappingProxyType
from typing import Literal, NamedTuple

Reason = Literal["default", "addressed", "analytical", "documents", "sticky", "stick", "unstick"]


def _lines(block: str) -> tuple[str, ...]:  # one pattern a line
    return tuple(x for x in map(str.strip, block.splitlines()) if x)


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


_NUM = (
    r"(?:\d+(?:\.\d+)?|zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|"
    r"(?:thir|four|fif|six|seven|eigh|nine)teen|(?:twen|thir|for|fif|six|seven|eigh|nine)ty|"
    r"hundred|thousand|million|half)"
)
# analysis and comparison, why and how, decisions and planning, maths, code
ANALYTICAL_CUES: tuple[str, ...] = _lines(
    r"""
    analy[sz]e|analy[sz]ing|analysis|analytical|evaluat\w+|assess\w*|critique
    compar(?:e|es|ed|ing|ison)|contrast|versus|vs\.?|differences? between|differ(?:s|ent)? from
    pros and cons|advantages and disadvantages|trade-?offs?|implications?|consequences
    summari[sz]\w+|summary|synthesi[sz]\w+|review (?:this|my|the|these)
    (?:this|the|that|my) (?:document|report|paper|article|contract|essay|spreadsheet|data|study)
    why|how come|explain\w*|explanation|root cause|causes? of
    how (?:does|did|would|could|should|exactly|do(?! (?:i|you)\b)|can(?! (?:i|you)\b))
    walk me through|step[- ]by[- ]step|in detail|detailed|break (?:it |this |that )?down
    reason(?:ing)? (?:through|about)|think (?:it |this |that )?through|breakdown
    should (?:i|we)\b.{1,60}\bor\b|best (?:way|approach|strategy)|strateg(?:y|ies)|optimi[sz]\w+
    which (?:one )?(?:is|would be) (?:better|best|cheaper|faster|safer)|plan (?:for|out|a|an|my)
    better (?:to|off)\b.{1,60}\bor\b|what (?:would|will) happen if|what happens if
    calculat\w+|compute|solve|equation|integral|derivative|factorial|probability|statistics
    maths?|square root|squared|percent(?:age)? of|\d+ ?%|average of|prime numbers?|prove|proof
    code|coding|function|python|javascript|typescript|rust|sql|regex|regular expression|api|json
    debug\w*|bugs?|script|program(?:ming)?|algorithms?|compile\w*|refactor\w*|stack trace|complexity
    NUM ?(?:plus|minus|times|multiplied by|divided by|over|to the power of|[*/+^×÷=]) ?NUM
    """.replace("NUM", _NUM)
)
_DOCS = r"(?:notes|documents?|docs|files?|handbook|manual|papers|records|library|uploads?)"
# the user's documents named as where the answer is: Leonardo answers from them
DOCUMENT_CUES: tuple[str, ...] = _lines(
    r"""
    according to (?:my|our|the) (?:\w+ )?DOCS|(?:in|from|on|by) (?:my|our) (?:\w+ )?DOCS
    (?:in|from) the (?:\w+ )?(?:handbook|manual|documents?|docs|notes|uploaded \w+)
    (?:check|search|look (?:it |that )?up in|read) (?:my|our|the) (?:\w+ )?DOCS
    (?:what|which) (?:do|does|did) (?:my|our|the) (?:\w+ )?DOCS (?:say|said|tell|mention)
    (?:my|our|the) (?:\w+ )?DOCS (?:says?|said|mentions?|tells?)
    """.replace("DOCS", _DOCS)
)
CHAT_CUES: tuple[str, ...] = _lines(r"""
    how (?:are|r) (?:you|ya|u)(?: doing| feeling| today)*|how you doing|how old are you
    how(?:'s| is| was) (?:it going|life|things|the weather|your (?:day|morning|evening|week\w*))
    how(?: are|'re) things|how have you been|how do you do|how (?:did|do) you (?:sleep|feel)
    how (?:nice|cool|funny|lovely|sweet|great|wonderful|awesome|sad|interesting|fun)
    how does (?:that|this) sound|how about (?:you|that|this)|how did (?:it|that|your \w+) go
    what'?s (?:up|new|going on)|what are you up to|good (?:morning|afternoon|evening|night)
    why not|why thank you|why don'?t (?:we|you|i)\b
    (?:that'?s|which is|no idea|don'?t know|not sure) why
    """)
STICK_PHRASES: tuple[str, ...] = _lines(r"""
    {name} (?:please )?(?:stay with me|take over|from now on)|stay with me {name}
    (?:let me|can i|could i|may i|i want to|i'd like to) (?:talk|speak|chat) (?:to|with) {name}
    (?:switch|swap|change|go|come|get) (?:over |back )?to {name}|back to {name}
    put {name} (?:back )?on|(?:only|just) {name} from now on
    """)
UNSTICK_PHRASES: tuple[str, ...] = _lines(r"""
    (?:go |switch |get )?back to auto(?:matic)?(?: mode| routing)?|auto(?:matic)? (?:mode|routing)
    either (?:one )?of you|both of you|whoever (?:knows|wants)|any(?:one|body) can answer
    """)
HANDOFF_LINES: tuple[str, ...] = _lines("""
    Let me hand that to {to}.\nGood question for {to}, one moment.\nThat's one for {to}.
    I'll pass that to {to}.\n{to} is better at this. Over to {to}.""")
DEFAULT_NAMES = MappingProxyType({"jarvis": ("jarvis", "jervis"), "leonardo": ("leonardo", "leo")})
_FILLERS = _words("um umm uh uhh uhm erm er hmm hm mm mhm ah eh")
_GREETINGS = _words("hey hi hello yo ok okay dear")
_OPENERS = _GREETINGS | _words("so well and now oh alright right yes yeah please")
_CONNECTORS = _words("and so then please now ok okay")
_PARTICLES = _words("da di de del della van von dicaprio vinci fibonacci of")
_AUX = _words("is was are were has had have do does did can could will would should may might")
_PRONOUNS = _words("you it this that there we i they he she these those anyone")
_NARRATIVE = _words("""and or said says thinks thought knows knew told seems seemed wrote made
    lived died painted invented likes loves wants went came gave took got became""")
_MENTION_BEFORE = _words("""about of to with by from for like than as the a an and or nor but
    called named meet met ask asked is was are were be been being am call tell told know knew see
    saw said says love loves hate hates at on in into my your his her our their mr mister dr""")
_QUESTION_OPENERS = _words("what why how which whether when where who") | _AUX
_REQUESTS = _words("""what's whats how's whose tell explain give show help compare write let
    please thanks thank good goodnight bye any""")
_STARTERS = _GREETINGS | _QUESTION_OPENERS | _REQUESTS
_PAUSE = re.compile(r"[,;:!?.…—–]|\s-\s")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
_SEP = re.compile(r"[,;:!?\"“”()\[\]…]|\.(?=\s|$)")
_PARTS = re.compile(r"[.?!;,]|\b(?:and|or|but|also|plus|then)\b")
_BOUNDED = r"(?<![\w'])(?:{})(?![\w'])"  # a pattern matches whole words only
_Res = tuple[re.Pattern[str], ...]


@dataclass(frozen=True)
class RoutingRules:
    default: str = "jarvis"  # answers by default
    analyst: str = "leonardo"  # analytical turns escalate to it
    names: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEFAULT_NAMES)
    analytical_cues: tuple[str, ...] = ANALYTICAL_CUES
    document_cues: tuple[str, ...] = DOCUMENT_CUES  # the user's documents: to the analyst
    chat_cues: tuple[str, ...] = CHAT_CUES  # small talk: blanked out before the cues are read
    stick_phrases: tuple[str, ...] = STICK_PHRASES  # `{name}` stands for any persona's name
    unstick_phrases: tuple[str, ...] = UNSTICK_PHRASES
    handoff_lines: tuple[str, ...] = HANDOFF_LINES
    long_words: int = 28  # a question this long with several parts is analytical
    escalate: bool = True  # False: never auto-escalate (addressing still works)
    _aliases: dict[str, str] = field(init=False, repr=False, compare=False)  # joined name: persona
    _res: dict[str, _Res] = field(init=False, repr=False, compare=False)  # compiled, by kind

    def __post_init__(self) -> None:
        aliases: dict[str, str] = {}
        for persona, name in ((p, n) for p, names in self.names.items() for n in (*names, p)):
            key = "".join(_WORD.findall(name.lower()))
            if not key or aliases.setdefault(key, persona) != persona:
                raise ValueError(f"name {name!r} is empty or given to two personas")
        if self.default not in self.names or self.analyst not in self.names:
            raise ValueError(f"default and analyst must be among the names: {sorted(self.names)}")
        if not self.handoff_lines or self.long_words < 1:
            raise ValueError("handoff_lines must not be empty and long_words must be >= 1")
        alt = "|".join(sorted(map(re.escape, aliases), key=len, reverse=True))
        name = rf"(?:{alt})(?! (?:{'|'.join(_PARTICLES)})\b)"
        stick = tuple(p.replace("{name}", name) for p in self.stick_phrases)
        groups = {"analytical": self.analytical_cues, "chat": self.chat_cues, "stick": stick}
        groups["documents"] = self.document_cues
        groups["unstick"] = self.unstick_phrases
        try:
            res = {k: tuple(re.compile(_BOUNDED.format(p)) for p in v) for k, v in groups.items()}
        except re.error as e:
            raise ValueError(f"bad cue or phrase pattern: {e}") from None
        object.__setattr__(self, "_aliases", aliases)
        object.__setattr__(self, "_res", res)


@dataclass(frozen=True, slots=True)
class Route:
    persona: str
    reason: Reason
    escalated: bool  # handed from the default persona to the analyst: speak a handoff line
    text: str  # the transcript without the address or the stick phrase
    sticky: str | None  # the persona the user now sticks to (None = automatic routing)
    cue: str | None  # what triggered it (the name, the phrase, the cue), for logs and events


class _Tok(NamedTuple):
    word: str  # lower case, straight apostrophes; a split name joined back into one word
    start: int  # offsets in the transcript
    end: int
    persona: str | None


def _tokens(text: str, aliases: dict[str, str]) -> list[_Tok]:
    """The words without fillers; a name split in two by the recogniser is joined back."""
    out: list[_Tok] = []
    for m in _WORD.finditer(text):
        w, prev = m[0].lower().replace("’", "'"), out[-1] if out else None
        if prev and prev.word + w in aliases and not text[prev.end : m.start()].strip():
            out[-1] = _Tok(prev.word + w, prev.start, m.end(), aliases[prev.word + w])
        elif w not in _FILLERS:
            out.append(_Tok(w, m.start(), m.end(), aliases.get(w)))
    return out


def _vocative(toks: list[_Tok], k: int) -> bool:
    """Whether the words after a leading name (no pause mark between) continue an address."""
    nxt, after = toks[k + 1].word, toks[k + 2].word if k + 2 < len(toks) else ""
    if nxt in _PARTICLES or toks[k + 1].persona not in (None, toks[k].persona):
        return False
    if any(x.word in _GREETINGS for x in toks[:k]) or nxt in _AUX:
        return nxt not in _AUX or after in _PRONOUNS
    return nxt not in _NARRATIVE and not (nxt.endswith("ed") and len(nxt) > 4)


def _address(text: str, toks: list[_Tok]) -> tuple[_Tok, str] | None:
    """The name the turn is addressed to and the turn without it, or None (see module doc)."""
    n, k = len(toks), 0
    while k < n and toks[k].persona is None and toks[k].word in _OPENERS:
        k += 1
    if k < n and toks[k].persona:
        t, nxt = toks[k], toks[k + 1] if k + 1 < n else None
        if nxt is None or _PAUSE.search(text[t.end : nxt.start]):
            return t, text[nxt.start :] if nxt else ""
        if _vocative(toks, k):
            return t, text[nxt.start :]
    if n >= 2 and toks[-1].persona and not toks[-2].persona:
        t, prev = toks[-1], toks[-2]
        first = next((x.word for x in toks if x.word not in _OPENERS - _GREETINGS), "")
        asks = text.rstrip().endswith("?") or first in _STARTERS
        if "," in text[prev.end : t.start] or (asks and prev.word not in _MENTION_BEFORE):
            return t, (text[: prev.end] + text[t.end :]).strip()
    for a, t, b in zip(toks, toks[1:], toks[2:], strict=False):
        if t.persona and "," in text[a.end : t.start] and "," in text[t.end : b.start]:
            return t, text[: a.end] + text[t.end :]
    return None


def _phrase(toks: list[_Tok], res: _Res) -> tuple[re.Match[str], int, int] | None:
    """The last match of any pattern over the words, with its first and last word index."""
    starts = list(accumulate((len(t.word) + 1 for t in toks), initial=0))
    plain = " ".join(t.word for t in toks)
    m = max((m for r in res for m in r.finditer(plain)), key=lambda m: m.start(), default=None)
    return m and (m, bisect_right(starts, m.start()) - 1, bisect_right(starts, m.end() - 1) - 1)


def _without(text: str, toks: list[_Tok], i: int, j: int) -> str:
    """The turn without words i..j when they open or close it; otherwise the whole turn."""
    if all(t.word in _OPENERS for t in toks[:i]):
        rest = list(dropwhile(lambda t: t.word in _CONNECTORS, toks[j + 1 :]))
        return text[rest[0].start :] if rest else ""
    if j < len(toks) - 1:
        return text
    while i > 0 and toks[i - 1].word in _CONNECTORS:
        i -= 1
    return text[: toks[i].start].rstrip(" ,;:-–—")


def _auto(text: str, toks: list[_Tok], rules: RoutingRules, sticky: str | None) -> Route:
    if found := _address(text, toks):
        name, rest = found
        heard = text[name.start : name.end].lower()
        return Route(name.persona or rules.default, "addressed", False, rest, sticky, heard)
    if sticky is not None:
        return Route(sticky, "sticky", False, text, sticky, None)
    if rules.escalate and (cue := asks_documents(text, rules)):
        return Route(rules.analyst, "documents", rules.analyst != rules.default, text, None, cue)
    analytical, cue = classify(text, rules) if rules.escalate else (False, None)
    if analytical:
        return Route(rules.analyst, "analytical", rules.analyst != rules.default, text, None, cue)
    return Route(rules.default, "default", False, text, None, None)


def route(transcript: str, *, rules: RoutingRules, sticky: str | None = None) -> Route:
    """Decide who answers `transcript` (see the module doc for the order of the rules)."""
    if sticky is not None and sticky not in rules.names:
        raise ValueError(f"unknown persona {sticky!r}; known: {sorted(rules.names)}")
    toks = _tokens(transcript, rules._aliases)
    stick, unstick = _phrase(toks, rules._res["stick"]), _phrase(toks, rules._res["unstick"])
    if stick and (unstick is None or stick[0].start() >= unstick[0].start()):
        m, i, j = stick
        persona = next(t.persona for t in toks[i : j + 1] if t.persona)
        rest = _without(transcript, toks, i, j)  # less an address left over ("hey jarvis, ...")
        rest = (_address(rest, _tokens(rest, rules._aliases)) or (None, rest))[1]
        return Route(persona, "stick", False, rest, persona, m[0])
    if unstick:
        m, i, j = unstick
        rest = _without(transcript, toks, i, j)
        r = _auto(rest, _tokens(rest, rules._aliases), rules, None)
        return Route(r.persona, "unstick", r.escalated, r.text, None, m[0])
    return _auto(transcript, toks, rules, sticky)


def asks_documents(transcript: str, rules: RoutingRules) -> str | None:
    """The words that send the question to the user's documents ("in my notes"), or None."""
    text = " ".join(_SEP.sub(" ", transcript.lower().replace("’", "'")).split())
    found = (m[0] for r in rules._res["documents"] if (m := r.search(text)))
    return next(found, None)


def classify(transcript: str, rules: RoutingRules) -> tuple[bool, str | None]:
    """Whether the turn is analytical, and why.  Small talk is blanked out first ("how are you"
    does not escalate on "how"), then the first cue found (a regular expression matched on whole
    words of the lower-cased turn) decides; `long_words` in two or more questions also do."""
    text = _SEP.sub(" ", transcript.lower().replace("’", "'"))
    text = " ".join(w for w in text.split() if w not in _FILLERS)
    for r in rules._res["chat"]:
        text = r.sub(" | ", text)
    for r in rules._res["analytical"]:
        if m := r.search(text):
            return True, m[0]
    words = len(_WORD.findall(transcript))
    if words >= rules.long_words:
        clauses = (s.split() for s in _PARTS.split(transcript.lower()))
        parts = sum(1 for s in clauses if s and s[0] in _QUESTION_OPENERS)
        if max(parts, transcript.count("?")) >= 2:
            return True, f"{words}-word question in {parts} parts"
    return False, None


def handoff_line(
    from_persona: str, to_persona: str, *, cue: str | None, seed: int, lines: Sequence[str] = ()
) -> str:
    """A spoken handoff line from `lines` (default HANDOFF_LINES; `{to}`, `{from}` are names),
    the same for the same arguments."""
    lines = lines or HANDOFF_LINES
    line = lines[zlib.crc32(f"{seed}|{from_persona}|{to_persona}|{cue}".encode()) % len(lines)]
    return line.format(to=to_persona.title(), **{"from": from_persona.title()})
