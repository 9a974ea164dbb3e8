"""Who answers each turn, and in which voice: the session's persona routing.

The user may address a persona by name, ask to stay with one (sticky), or ask something
analytical that Jarvis hands to Leonardo with a spoken line; a pinned session always
answers as its persona.
"""

from __future__ import annotations

import dataclasses

from ..engines.base import ChatMessage, Voice
from ..engines.loader import voice_of
from ..personas.routing import Route, RoutingRules, handoff_line, route
from ..settings.voices import session_voice
from .context import SessionContext
from .turn import Preface, Turn

ROUTE_CHARS = 2000  # routing reads this much of a turn (typed text may be a whole document)


class Router:
    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        self.rules = routing_rules(ctx.engines.settings)
        self.sticky: str | None = None  # the persona the user asked to stay with, by voice

    def route(self, turn: Turn, messages: list[ChatMessage]) -> list[ChatMessage]:
        """Pick the persona for this turn from what the user said, and retarget the turn."""
        s = self.ctx
        if not messages or messages[-1]["role"] != "user":
            return messages  # e.g. a response.create with no new user turn
        if s.config.persona != "auto":
            self.retarget(turn, s.config.persona, "pinned", None)
            return self.with_system(turn, messages)
        said = messages[-1]["content"]
        head = said[:ROUTE_CHARS]  # who is addressed, and how, is said early; long texts
        r: Route = route(head, rules=self.rules, sticky=self.sticky)  # cost linear time
        if len(said) > len(head):
            r = dataclasses.replace(r, text=r.text + said[len(head) :])
        self.sticky = r.sticky
        if r.persona not in s.engines.settings.personas:
            return messages
        if r.text.strip() and r.text != said:
            messages = [*messages[:-1], {"role": "user", "content": r.text}]
        self.hand_to(turn, r.persona, r.reason, r.cue, escalated=r.escalated)
        return self.with_system(turn, messages)

    def hand_to(
        self, turn: Turn, persona: str, reason: str, cue: str | None, *, escalated: bool
    ) -> None:
        """Retarget the turn; counted when not the default persona; an escalated turn
        opens with the default persona's handoff line."""
        self.retarget(turn, persona, reason, cue)
        default = self.rules.default
        if persona != default:
            self.ctx.engines.metrics.escalations_total.labels(default, persona, reason).inc()
        if escalated:
            line = handoff_line(
                default,
                persona,
                cue=cue,
                seed=hash(turn.response_id),
                lines=self.rules.handoff_lines,
            )
            turn.preface = Preface(default, line, self.voice(default))

    def with_system(self, turn: Turn, messages: list[ChatMessage]) -> list[ChatMessage]:
        """The answering persona's system prompt (or the session's instructions) first."""
        prompt = (
            self.ctx.config.instructions
            or self.ctx.engines.settings.persona(turn.persona).system_prompt
        )
        rest = messages[1:] if messages and messages[0]["role"] == "system" else messages
        return [{"role": "system", "content": prompt}, *rest]

    def voice(self, persona: str) -> Voice:
        """The persona's voice, or the one the session chose for its own persona."""
        settings = self.ctx.engines.settings
        name = session_voice(settings.voices, self.ctx.config.voice)
        chosen = None if name is None else settings.voices[name]
        if chosen is not None and persona == self.ctx.config.model:
            voice = Voice(str(chosen.model) if chosen.model else None, chosen.speaker, chosen.speed)
        else:
            voice = voice_of(settings.persona(persona))
        return dataclasses.replace(voice, speed=voice.speed * self.ctx.config.speed)

    def retarget(self, turn: Turn, persona: str, reason: str, cue: str | None) -> None:
        settings = self.ctx.engines.settings.persona(persona)
        turn.persona, turn.reason, turn.cue = persona, reason, cue
        turn.chat = self.ctx.engines.chat_for(persona)
        turn.voice = self.voice(persona)
        turn.max_tokens = self.ctx.config.max_output_tokens or settings.chat.max_tokens
        turn.voice_for = self.voice


def routing_rules(settings) -> RoutingRules:  # type: ignore[no-untyped-def]
    """Routing rules for the configured personas: each answers to its key and display name."""
    base = RoutingRules()
    names = dict(base.names)
    for key, persona in settings.personas.items():
        own = {key, persona.display_name.lower()}
        names[key] = tuple(dict.fromkeys([*names.get(key, ()), *sorted(own)]))
    names = {k: v for k, v in names.items() if k in settings.personas}
    analyst = "leonardo" if "leonardo" in settings.personas else base.analyst
    return dataclasses.replace(base, names=names, default=settings.default_persona, analyst=analyst)
