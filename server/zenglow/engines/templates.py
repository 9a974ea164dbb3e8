"""Prompts for the embedded chat models, built from each model's own chat template.

An instruction-tuned GGUF carries its chat template (`tokenizer.chat_template`, Jinja, as
Hugging Face writes it); `ChatTemplate` renders it in a sandbox, with the model's BOS and EOS
texts, and knows the strings that end its turn.  A base model without a template (Gemma 3
270M) is prompted with `TranscriptTemplate`: a short few-shot transcript ("User: ... /
Assistant: ...") ending in "Assistant:", whose reply is the rest of that one line.

Both continue a reply already begun (a final assistant message, as a failover sends it): the
prompt ends inside that reply, so the model writes the rest of it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from .base import ChatMessage, EngineError

DEFAULT_SYSTEM = "A friendly voice companion chats with the user."
STYLE = "The assistant answers kindly and briefly, in one or two short sentences."
EXAMPLES: tuple[tuple[str, str], ...] = (
    ("Hi there!", "Hello! It's lovely to hear from you. How are you today?"),
    ("What's the capital of France?", "It's Paris, the city of light."),
    (
        "Can you tell me a joke?",
        "Why did the scarecrow win an award? He was outstanding in his field!",
    ),
    ("Thanks, that's all for now.", "You're welcome! Talk to you soon."),
)
# A transcript reply is one line: it ends at a newline or wherever the model starts writing
# the next turn itself.
STOPS: tuple[str, ...] = ("\n", "User:", "Assistant:", "<end_of_turn>", "<start_of_turn>")
# Turn markers of the common chat formats: a reply that writes one has ended its turn.
TURN_MARKERS: tuple[str, ...] = (
    "<|im_end|>", "<|im_start|>", "<|endoftext|>", "<end_of_turn>", "<start_of_turn>",
    "<|eot_id|>", "<|start_header_id|>", "<|end|>", "<|user|>", "<|assistant|>", "</s>",
    "[INST]",
)  # fmt: skip


class PromptTemplate(Protocol):
    stops: tuple[str, ...]  # text that ends a reply (beside the model's end-of-turn tokens)

    def render(self, messages: Sequence[ChatMessage]) -> str: ...

    def message_text(self, message: ChatMessage) -> str:
        """About the text one message adds to a prompt (to count its tokens)."""
        ...


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _turns(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    return [m for m in messages if m["role"] != "system" and _one_line(m["content"])]


def continues(messages: Sequence[ChatMessage]) -> bool:
    """Whether the conversation ends in a reply already begun, to be continued."""
    turns = _turns(messages)
    return bool(turns) and turns[-1]["role"] == "assistant"


def build_prompt(messages: Sequence[ChatMessage]) -> str:
    """The transcript prompt: system text, the examples, the conversation, "Assistant:".

    When the conversation ends with an assistant message (a reply that another backend began
    and this one finishes), the prompt ends inside that line, so the model continues it."""
    system = " ".join(_one_line(m["content"]) for m in messages if m["role"] == "system")
    lines = [f"{system or DEFAULT_SYSTEM} {STYLE}", ""]
    for user, assistant in EXAMPLES:
        lines += [f"User: {user}", f"Assistant: {assistant}"]
    for m in _turns(messages):
        label = "User" if m["role"] == "user" else "Assistant"
        lines.append(f"{label}: {_one_line(m['content'])}")
    if not continues(messages):
        lines.append("Assistant:")
    return "\n".join(lines)


class TranscriptTemplate:
    """The few-shot transcript, for a base model that has no chat template of its own."""

    stops = STOPS

    def render(self, messages: Sequence[ChatMessage]) -> str:
        return build_prompt(messages)

    def message_text(self, message: ChatMessage) -> str:
        return f"\nUser: {_one_line(message['content'])}"


class ChatTemplate:
    """A model's own Jinja chat template, rendered in a sandbox."""

    def __init__(self, source: str, *, bos: str = "", eos: str = "") -> None:
        from jinja2 import TemplateError
        from jinja2.ext import loopcontrols
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(
            trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]
        )
        env.filters["tojson"] = lambda x, indent=None, **_: json.dumps(
            x, ensure_ascii=False, indent=indent
        )
        env.globals["strftime_now"] = lambda f: datetime.now().strftime(f)
        env.globals["raise_exception"] = _raise
        try:
            self._template = env.from_string(source)
        except TemplateError as e:
            raise EngineError(f"the model's chat template does not compile: {e}") from e
        self.source, self.bos, self.eos = source, bos, eos
        marks = [m for m in TURN_MARKERS if m in source]
        self.stops = tuple(dict.fromkeys([*([eos] if eos else []), *marks]))

    def render(self, messages: Sequence[ChatMessage]) -> str:
        """The prompt for the next reply, or for the rest of a reply already begun."""
        from jinja2 import TemplateError

        turns = [{"role": m["role"], "content": m["content"]} for m in messages]
        begun = ""
        if turns and turns[-1]["role"] == "assistant":
            begun = turns.pop()["content"]
        try:
            prompt = self._template.render(
                messages=turns,
                add_generation_prompt=True,
                bos_token=self.bos,
                eos_token=self.eos,
            )
        except (TemplateError, ValueError, TypeError) as e:
            raise EngineError(f"the model's chat template refused the conversation: {e}") from e
        return prompt + begun

    def message_text(self, message: ChatMessage) -> str:
        return f"<|{message['role']}|>\n{message['content']}<|end|>\n"


def _raise(message: str) -> None:
    raise ValueError(message)


def template_for(metadata: Mapping[str, Any], token_text: Mapping[str, str]) -> PromptTemplate:
    """The model's own template when its GGUF has one, else the transcript.

    `token_text` holds the texts of the model's `bos` and `eos` tokens."""
    source = metadata.get("tokenizer.chat_template")
    if not source:
        return TranscriptTemplate()
    return ChatTemplate(str(source), bos=token_text.get("bos", ""), eos=token_text.get("eos", ""))
