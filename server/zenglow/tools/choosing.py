"""Which tool a request asks for, by its words (pure): the embedded model's router.

A small base model writes valid arguments under a grammar, but cannot judge *whether* to
call a tool; under `tool_choice: auto` this router does, by the content words a request
shares with a tool's name and description ("what time is it?" -> get_time).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .specs import ToolSpec, forced

_WORD = re.compile(r"[a-z0-9]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
STOPWORDS = frozenset(
    "a an the and or of to in on at for by with from as is are was be it its this that these "
    "those i me my you your we our he she they them what which who whom how when where why "
    "do does did can could would should will shall may might must please tell give get set "
    "make let show want like know need have has had current now some any all one up out "
    "about into just also there here than then so not no yes if".split()
)


def _stem(word: str) -> str:
    for suffix in ("ing", "es", "ed", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def words(text: str) -> set[str]:
    spaced = _CAMEL.sub(" ", text).replace("_", " ").replace("-", " ").lower()
    return {_stem(w) for w in _WORD.findall(spaced) if w not in STOPWORDS}


def score(request: str, tool: ToolSpec) -> int:
    """Content words the request shares with the tool (its name counts twice)."""
    said = words(request)
    return 2 * len(said & words(tool.name)) + len(said & words(tool.description))


def choose(request: str, tools: Sequence[ToolSpec], choice: str) -> ToolSpec | None:
    """The tool to call for `request` under `choice`, or None for a spoken answer."""
    if not tools or choice == "none":
        return None
    name = forced(choice)
    if name is not None:
        return next((t for t in tools if t.name == name), None)
    ranked = sorted(tools, key=lambda t: -score(request, t))  # stable: ties keep the order
    best = ranked[0]
    if choice == "required" or score(request, best) >= 2:
        return best
    return None
