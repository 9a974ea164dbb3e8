"""The voices a session may choose by name (`[voices]`), and what OpenAI's voice names mean.

A Realtime client written for OpenAI asks for one of OpenAI's voices (the Agents SDK asks for
`ash` by default).  Each such name is accepted: a `[voices.NAME]` entry that lists it in its
`aliases` answers it, else the persona speaks in its own voice.  Any other unknown name is
refused with the list of what exists.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import Field

from .personas import VoiceSettings

DEFAULT_VOICE = "default"  # the persona's own voice
OPENAI_VOICES = (
    "alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar",
)  # fmt: skip


class SessionVoiceSettings(VoiceSettings):
    """A voice a session may pick with `audio.output.voice`: by its name, or by an alias."""

    aliases: list[str] = Field(
        default_factory=list, description="other names for this voice, e.g. OpenAI's 'ash'"
    )


def default_voices() -> dict[str, SessionVoiceSettings]:
    return {
        "joe": SessionVoiceSettings(),
        "joe-brisk": SessionVoiceSettings(speed=1.15),
        "joe-calm": SessionVoiceSettings(speed=0.9),
    }


def alias_problems(voices: Mapping[str, SessionVoiceSettings]) -> list[str]:
    """Aliases that could mean two things: another voice's name, or another voice's alias."""
    problems, owner = [], {}
    for name, voice in voices.items():
        for alias in voice.aliases:
            if alias == DEFAULT_VOICE or alias in voices:
                problems.append(f"voices.{name}.aliases: {alias!r} is already a voice name")
            elif alias in owner and owner[alias] != name:
                problems.append(
                    f"voices.{name}.aliases: {alias!r} is also an alias of voices.{owner[alias]}"
                )
            owner.setdefault(alias, name)
    return problems


class UnknownVoice(KeyError):
    def __init__(self, name: str, voices: Mapping[str, SessionVoiceSettings]) -> None:
        own = ", ".join([DEFAULT_VOICE, *sorted(voices)])
        super().__init__(
            f"unknown voice {name!r}; available: {own}, or one of OpenAI's "
            f"({', '.join(OPENAI_VOICES)})"
        )
        self.message = str(self.args[0])


def session_voice(voices: Mapping[str, SessionVoiceSettings], name: str) -> str | None:
    """The `[voices]` entry that `name` stands for; None: the persona's own voice."""
    if name in voices:
        return name
    for key, voice in voices.items():
        if name in voice.aliases:
            return key
    if name == DEFAULT_VOICE or name in OPENAI_VOICES:
        return None
    raise UnknownVoice(name, voices)
