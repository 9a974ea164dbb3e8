"""The models' own chat templates: rendered from the GGUF, continued after a failover, and
never leaking a role token into a reply; then the conversational evaluation set on the real
default model (tests/chat_eval.py)."""

from __future__ import annotations

import pytest

from tests.chat_eval import CASES, HELD_OUT, format_problems
from zenglow.engines import bundled
from zenglow.engines.base import ChatMessage, EngineError
from zenglow.engines.bundled import QWEN, assembled_qwen, model_path
from zenglow.engines.llamacpp import LlamaCppChat, ReplyText
from zenglow.engines.templates import ChatTemplate, TranscriptTemplate, template_for
from zenglow.settings import load_settings

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
ASKED: list[ChatMessage] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Capital of France?"},
]

# --- pure pieces ------------------------------------------------------------------------


def test_a_chat_template_renders_the_conversation_and_the_generation_prompt() -> None:
    t = ChatTemplate(CHATML, eos="<|im_end|>")
    assert t.render(ASKED) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nCapital of France?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert t.stops[0] == "<|im_end|>" and "<|im_start|>" in t.stops


def test_a_begun_reply_ends_the_prompt_so_it_is_continued() -> None:
    t = ChatTemplate(CHATML, eos="<|im_end|>")
    begun = t.render([*ASKED, {"role": "assistant", "content": "The capital is"}])
    assert begun == t.render(ASKED) + "The capital is"


def test_a_gguf_without_a_template_gets_the_transcript() -> None:
    assert isinstance(template_for({}, {}), TranscriptTemplate)
    assert isinstance(template_for({"tokenizer.chat_template": CHATML}, {}), ChatTemplate)


def test_a_broken_template_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="does not compile"):
        ChatTemplate("{% for %}")
    refusing = ChatTemplate("{{ raise_exception('roles must alternate') }}")
    with pytest.raises(EngineError, match="roles must alternate"):
        refusing.render(ASKED)


def test_reply_text_cuts_at_the_template_s_turn_markers() -> None:
    stops = ChatTemplate(CHATML, eos="<|im_end|>").stops
    for text in ("Paris.<|im_end|>\n<|im_start|>user\nmore", "Paris.<|im_start|>user"):
        for cut in range(len(text) + 1):
            reply = ReplyText(stops)
            got = reply.feed(text[:cut]) + reply.feed(text[cut:]) + reply.finish()
            assert got == "Paris."


def test_the_qwen_parts_are_joined_once_and_checked(tmp_path, monkeypatch) -> None:
    path = assembled_qwen(tmp_path)
    assert path.stat().st_size == 491_400_064
    stamp = path.with_name(path.name + ".sha256")
    assert stamp.read_text().startswith("1d9614638d18024d")
    assert assembled_qwen(tmp_path) == path  # the stamp spares a second hash
    path.write_bytes(b"tampered")  # a changed file is checked again, and joined anew
    assert assembled_qwen(tmp_path).stat().st_size == 491_400_064
    monkeypatch.setattr(bundled, "QWEN_SHA256", "0" * 64)  # parts that are not the pinned ones
    with pytest.raises(EngineError, match="not the pinned"):
        assembled_qwen(tmp_path / "other")
    assert not list((tmp_path / "other").iterdir())  # nothing half-made is left


def test_an_unknown_bundled_model_name_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="choose one of"):
        model_path("gpt-5")


# --- the real default model -------------------------------------------------------------


@pytest.fixture(scope="module")
def chat() -> LlamaCppChat:
    """The default model as the server runs it (llm.temperature)."""
    temperature = load_settings(None).llm.temperature
    model = LlamaCppChat(model_path(QWEN), seed=1234, temperature=temperature)
    model.load()
    return model


def test_the_default_model_brings_its_own_template(chat: LlamaCppChat) -> None:
    assert isinstance(chat.template, ChatTemplate)
    assert "<|im_end|>" in chat.stops
    tokens = chat.prompt_tokens(ASKED, 512)
    im_start = chat.load().tokenize(b"<|im_start|>", add_bos=False, special=True)
    assert len(im_start) == 1 and tokens.count(im_start[0]) == 3  # special, not spelled out


async def test_the_evaluation_set_passes_on_the_default_model(chat: LlamaCppChat) -> None:
    persona = load_settings(None).persona("jarvis")
    passed, held, failures = 0, 0, []
    for case in CASES:
        reply = "".join(
            [
                d
                async for d in chat.stream(
                    case.messages(persona.system_prompt), max_tokens=persona.chat.max_tokens
                )
            ]
        )
        # role tags, template tokens and code fences never; length is judged below
        assert not [p for p in format_problems(reply, short=False)], (case, reply)
        ok = case.accepts(reply)
        passed += ok
        held += ok and case.held_out
        if not ok or format_problems(reply):
            failures.append(f"{case.turns[-1]!r} -> {reply!r} {format_problems(reply)}")
    print("\n" + "\n".join(failures))
    print(f"passed {passed}/{len(CASES)}, held out {held}/{len(HELD_OUT)}")
    assert passed >= 0.85 * len(CASES)
    assert held >= 0.85 * len(HELD_OUT)
    assert len(failures) <= 0.2 * len(CASES)


async def test_spoken_held_out_questions_get_right_short_clean_answers(engines) -> None:  # type: ignore[no-untyped-def]
    """The held-out questions spoken by Piper, heard by Whisper, answered by Jarvis's pool."""
    import numpy as np

    from zenglow.speech.audio import int16_to_float

    stt, tts = engines.stt, engines.tts
    system = engines.system_messages("jarvis")
    spoken = [c for c in HELD_OUT if len(c.turns) == 1]
    right, lines = 0, []
    for case in spoken:
        pcm = [c.pcm async for c in tts.synthesize(case.turns[0], sample_rate=stt.sample_rate)]
        heard = (await stt.transcribe(int16_to_float(np.concatenate(pcm)))).text.strip()
        messages: list[ChatMessage] = [*system, {"role": "user", "content": heard}]
        reply = "".join([d async for d in engines.chat_for("jarvis").stream(messages)])
        assert not format_problems(reply, short=False), (heard, reply)
        right += case.accepts(reply)
        lines.append(f"{heard!r} -> {reply!r}")
    print("\n" + "\n".join(lines))
    assert right >= 0.8 * len(spoken)
