"""ZenGlow's extensions to the Realtime server events, namespaced `zenglow.*` (pure).

Only clients that ask for them get them: `?extensions=zenglow` on the WebSocket URL or on
`POST /v1/realtime/calls` (`QUERY_PARAM`, `NAME`).  Those clients also see the `zenglow`
part of the session object: the persona setting, and what the latest session config asked
for that the session accepted and does not do (`ignored`).  A stock client sees GA
events only, so a client that validates every server event finds nothing it does not know.

zenglow.visemes       {response_id, item_id, audio_offset_ms, cues: [{viseme, start_ms,
                      end_ms}]}: `audio_offset_ms` is where the audio chunk the cues belong
                      to starts, from the start of that response's audio; cue times count
                      from the start of that chunk.
zenglow.state         {state: listening | user_speaking | thinking | working | speaking |
                      interrupted}: `working` while a server-side tool runs
zenglow.tool          {response_id, call_id, name, status: running | completed | failed,
                      output}: a server-side tool (built-in or MCP) the reply uses; `output`
                      (what the model was told) once it ended
zenglow.turn_metrics  {response_id, metrics: {<name>_ms: number | null}} (METRICS)
zenglow.persona       {persona, reason}
zenglow.citations     {response_id, item_id, audio_offset_ms, text, sources: [{document_id,
                      title, locator, text, score, audio_offset_ms}]}: the sentence `text`
                      of a grounded answer, spoken from `audio_offset_ms` of the response's
                      audio (null in a text-only reply), names or draws on these passages
                      of the user's documents; a client shows them as that audio plays.
zenglow.conversation  {id, resumed, items}: right after `session.created`, the conversation
                      the session belongs to (`?conversation=ID` resumes one); a resumed
                      one's items follow as `conversation.item.added`/`done`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ...engines.base import VisemeCue
from ...knowledge.documents import Passage

Json = dict[str, Any]
QUERY_PARAM = "extensions"
NAME = "zenglow"
PREFIX = f"{NAME}."
STATES = ("listening", "user_speaking", "thinking", "working", "speaking", "interrupted")
METRICS = (
    "endpoint_ms", "stt_ms", "llm_first_token_ms", "first_sentence_ms", "tts_first_audio_ms",
    "first_audio_sent_ms", "voice_to_voice_ms",
)  # fmt: skip


def wants_extensions(query: Mapping[str, str]) -> bool:
    """`?extensions=zenglow` in a connection's query (a comma-separated list)."""
    return NAME in (v.strip().lower() for v in query.get(QUERY_PARAM, "").split(","))


def is_extension(event: Json) -> bool:
    return str(event.get("type", "")).startswith(PREFIX)


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class ExtensionEvents:
    """The `zenglow.*` event builders, mixed into `ServerEvents` (which makes the ids)."""

    def _event(self, type_: str, **fields: Any) -> Json:
        raise NotImplementedError

    def visemes(
        self, response_id: str, item_id: str, audio_offset_ms: float, cues: Sequence[VisemeCue]
    ) -> Json:
        wire = [
            {"viseme": c.viseme, "start_ms": round(c.start_ms, 1), "end_ms": round(c.end_ms, 1)}
            for c in cues
        ]
        return self._event(
            "zenglow.visemes",
            response_id=response_id,
            item_id=item_id,
            audio_offset_ms=round(audio_offset_ms, 1),
            cues=wire,
        )

    def state(self, state: str) -> Json:
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; expected one of {STATES}")
        return self._event("zenglow.state", state=state)

    def turn_metrics(self, response_id: str, **metrics: float | None) -> Json:
        unknown = set(metrics) - set(METRICS)
        if unknown:
            raise ValueError(f"unknown turn metrics {sorted(unknown)}; expected {METRICS}")
        values = {m: _ms(metrics.get(m)) for m in METRICS}
        return self._event("zenglow.turn_metrics", response_id=response_id, metrics=values)

    def tool(
        self, response_id: str, call_id: str, name: str, status: str, output: str | None = None
    ) -> Json:
        return self._event(
            "zenglow.tool",
            response_id=response_id,
            call_id=call_id,
            name=name,
            status=status,
            output=output,
        )

    def persona(self, persona: str, reason: str) -> Json:
        return self._event("zenglow.persona", persona=persona, reason=reason)

    def citations(
        self,
        response_id: str,
        item_id: str,
        audio_offset_ms: float | None,
        text: str,
        sources: Sequence[Passage],
    ) -> Json:
        at = _ms(audio_offset_ms)
        wire = [
            {
                "document_id": p.document_id,
                "title": p.title,
                "locator": p.locator,
                "text": p.text,
                "score": round(p.score, 3),
                "audio_offset_ms": at,
            }
            for p in sources
        ]
        return self._event(
            "zenglow.citations",
            response_id=response_id,
            item_id=item_id,
            audio_offset_ms=at,
            text=text,
            sources=wire,
        )

    def conversation(self, conversation_id: str, resumed: bool, items: int) -> Json:
        return self._event("zenglow.conversation", id=conversation_id, resumed=resumed, items=items)
