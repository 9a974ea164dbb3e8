"""The Realtime wire codec against the official `openai` SDK's own models and parse path."""

from __future__ import annotations

import base64
import itertools
import json
import typing
from typing import Annotated, Any

import numpy as np
import pytest
from openai import BaseModel as SDKModel
from openai._models import validate_type
from openai._utils import maybe_transform
from openai.resources.realtime.realtime import RealtimeConnection
from openai.types.beta import realtime as beta
from openai.types.realtime import (
    AudioTranscription,
    ConversationItemCreateEvent,
    ConversationItemDeleteEvent,
    ConversationItemRetrieveEvent,
    ConversationItemTruncateEvent,
    InputAudioBufferAppendEvent,
    InputAudioBufferClearEvent,
    InputAudioBufferCommitEvent,
    OutputAudioBufferClearEvent,
    RealtimeAudioConfig,
    RealtimeAudioConfigInput,
    RealtimeAudioConfigOutput,
    RealtimeClientEventParam,
    RealtimeConversationItemSystemMessage,
    RealtimeConversationItemUserMessage,
    RealtimeResponseCreateAudioOutput,
    RealtimeResponseCreateParams,
    RealtimeServerEvent,
    RealtimeSessionCreateRequest,
    RealtimeSessionCreateResponse,
    ResponseCancelEvent,
    ResponseCreateEvent,
    SessionUpdateEvent,
)
from openai.types.realtime import realtime_audio_formats as formats
from openai.types.realtime import realtime_audio_input_turn_detection as vad
from openai.types.realtime import realtime_conversation_item_system_message as system_msg
from openai.types.realtime import realtime_conversation_item_user_message as user_msg
from openai.types.realtime import realtime_response_create_audio_output as response_audio
from pydantic import Field, TypeAdapter

from zenglow.engines.base import VisemeCue
from zenglow.knowledge import Passage
from zenglow.transports.realtime.client_events import (
    OFF,
    AudioAppend,
    AudioClear,
    AudioCommit,
    ItemCreate,
    ItemDelete,
    ItemRetrieve,
    ItemTruncate,
    OutputAudioClear,
    ProtocolError,
    ResponseCancel,
    ResponseCreate,
    SessionConfigPatch,
    SessionUpdate,
    Transcription,
    TurnDetection,
    parse_client_event,
)
from zenglow.transports.realtime.objects import (
    assistant_item,
    message_item,
    response_object,
    session_object,
    user_audio_item,
)
from zenglow.transports.realtime.server_events import ServerEvents

MAX = 1 << 20


LEAVE = Passage(
    "doc_1", "Staff Handbook", "Leave > Annual", "Every staff member gets 27 days.", 0.61234
)


def parse(event: dict[str, Any] | SDKModel) -> Any:
    """Send `event` the way the SDK's `connection.send` does, then parse it."""
    if isinstance(event, SDKModel):
        raw = event.to_json(use_api_names=True, exclude_unset=True)
    else:
        raw = json.dumps(maybe_transform(event, RealtimeClientEventParam))
    return parse_client_event(raw, max_bytes=MAX)


# --- client events ----------------------------------------------------------------------


def test_ga_session_update_from_sdk_models() -> None:
    session = RealtimeSessionCreateRequest(
        type="realtime",
        instructions="Be brief.",
        output_modalities=["text"],
        max_output_tokens=200,
        tools=[],
        audio=RealtimeAudioConfig(
            input=RealtimeAudioConfigInput(
                format=formats.AudioPCM(type="audio/pcm", rate=24000),
                turn_detection=vad.ServerVad(
                    type="server_vad", threshold=0.6, silence_duration_ms=400, create_response=False
                ),
                transcription=AudioTranscription(model="whisper-1", language="en"),
            ),
            output=RealtimeAudioConfigOutput(voice="marin", speed=1.2),
        ),
    )
    event = parse(SessionUpdateEvent(type="session.update", event_id="evt_1", session=session))
    assert event == SessionUpdate(
        "evt_1",
        SessionConfigPatch(
            instructions="Be brief.",
            voice="marin",
            speed=1.2,
            output_modalities=("text",),
            turn_detection=TurnDetection(
                threshold=0.6, silence_duration_ms=400, create_response=False
            ),
            transcription=Transcription(model="whisper-1", language="en"),
            max_output_tokens=200,
            tools=(),  # `tools: []`: no client functions; the server's Whisper settings decide
            ignored=(
                "session.audio.input.transcription.model",
                "session.audio.input.transcription.language",
            ),
        ),
    )


def test_beta_session_update_from_sdk_models() -> None:
    session = beta.session_update_event.Session(
        modalities=["text", "audio"],
        voice="alloy",
        speed=0.9,
        input_audio_format="pcm16",
        output_audio_format="pcm16",
        turn_detection={"type": "semantic_vad", "eagerness": "high", "interrupt_response": False},
        input_audio_transcription={"model": "whisper-1", "prompt": "ZenGlow"},
        max_response_output_tokens="inf",
        temperature=0.7,
    )
    event = parse(beta.SessionUpdateEvent(type="session.update", event_id="b1", session=session))
    assert event == SessionUpdate(
        "b1",
        SessionConfigPatch(
            voice="alloy",
            speed=0.9,
            output_modalities=("audio",),
            turn_detection=TurnDetection(interrupt_response=False, semantic=True, eagerness="high"),
            transcription=Transcription(model="whisper-1", prompt="ZenGlow"),
            max_output_tokens="inf",
            ignored=(
                "session.temperature",
                "session.input_audio_transcription.model",
                "session.input_audio_transcription.prompt",
            ),
        ),
    )


@pytest.mark.parametrize(
    "session",
    [
        {"type": "realtime", "audio": {"input": {"turn_detection": None, "transcription": None}}},
        {"turn_detection": None, "input_audio_transcription": None},
    ],
    ids=["ga", "beta"],
)
def test_null_switches_off_and_absent_leaves_unchanged(session: dict[str, Any]) -> None:
    off = parse({"type": "session.update", "session": session})
    assert off.config.turn_detection is OFF and off.config.transcription is OFF
    same = parse({"type": "session.update", "session": {"type": "realtime"}})
    assert same == SessionUpdate(None, SessionConfigPatch())


def test_zenglow_options_custom_voice_and_ignored_fields() -> None:
    session = RealtimeSessionCreateRequest(
        type="realtime",
        model="gpt-realtime",
        tracing="auto",
        audio={
            "input": {"noise_reduction": {"type": "near_field"}},
            "output": {"voice": {"id": "joe"}},
        },
        zenglow={"persona": "leonardo", "mood": "calm"},
    )
    event = parse(SessionUpdateEvent(type="session.update", session=session))
    assert event.config.persona == "leonardo" and event.config.voice == "joe"
    assert set(event.config.ignored) == {
        "session.model", "session.tracing", "session.audio.input.noise_reduction",
        "session.zenglow.mood",
    }  # fmt: skip


def test_audio_append_decodes_little_endian_pcm16() -> None:
    pcm = (np.sin(np.arange(2400) / 7.0) * 20000).astype(np.int16)
    wire = base64.b64encode(pcm.astype("<i2").tobytes()).decode()
    event = parse(InputAudioBufferAppendEvent(type="input_audio_buffer.append", audio=wire))
    assert isinstance(event, AudioAppend) and event.event_id is None
    assert event.pcm.dtype == np.int16 and np.array_equal(event.pcm, pcm)
    empty = parse({"type": "input_audio_buffer.append", "audio": ""})
    assert len(empty.pcm) == 0


@pytest.mark.parametrize(
    ("sdk_event", "expected"),
    [
        (InputAudioBufferCommitEvent(type="input_audio_buffer.commit", event_id="c"),
         AudioCommit("c")),
        (InputAudioBufferClearEvent(type="input_audio_buffer.clear", event_id="c"),
         AudioClear("c")),
        (OutputAudioBufferClearEvent(type="output_audio_buffer.clear"), OutputAudioClear(None)),
        (
            ConversationItemTruncateEvent(
                type="conversation.item.truncate", event_id="t", item_id="it_1",
                content_index=0, audio_end_ms=1500,
            ),
            ItemTruncate("t", "it_1", 0, 1500),
        ),
        (ConversationItemDeleteEvent(type="conversation.item.delete", item_id="x"),
         ItemDelete(None, "x")),
        (ConversationItemRetrieveEvent(type="conversation.item.retrieve", item_id="x"),
         ItemRetrieve(None, "x")),
        (ResponseCancelEvent(type="response.cancel", event_id="k"), ResponseCancel("k")),
        (ResponseCancelEvent(type="response.cancel", response_id="r1"), ResponseCancel(None, "r1")),
        (ResponseCreateEvent(type="response.create"), ResponseCreate(None)),
    ],
    ids=lambda v: getattr(v, "type", ""),
)  # fmt: skip
def test_simple_events_from_sdk_models(sdk_event: SDKModel, expected: Any) -> None:
    assert parse(sdk_event) == expected


def test_user_and_system_text_items() -> None:
    user = RealtimeConversationItemUserMessage(
        type="message", role="user", id="item_u",
        content=[user_msg.Content(type="input_text", text="Hello"),
                 user_msg.Content(type="input_text", text="there")],
    )  # fmt: skip
    event = parse(ConversationItemCreateEvent(
        type="conversation.item.create", event_id="i1", item=user, previous_item_id="item_0"
    ))  # fmt: skip
    assert event == ItemCreate("i1", "user", "Hello\nthere", "item_u", "item_0")
    system = RealtimeConversationItemSystemMessage(
        type="message", role="system", content=[system_msg.Content(type="input_text", text="Hush")]
    )
    event = parse(ConversationItemCreateEvent(type="conversation.item.create", item=system))
    assert event == ItemCreate(None, "system", "Hush")
    beta_item = {
        "type": "message",
        "role": "assistant",
        "content": [{"type": "text", "text": "Hi"}],
    }
    event = parse({"type": "conversation.item.create", "item": beta_item})
    assert event == ItemCreate(None, "assistant", "Hi")


def test_response_create_overrides_ga_and_beta() -> None:
    params = RealtimeResponseCreateParams(
        instructions="Shorter.",
        output_modalities=["text"],
        max_output_tokens=50,
        conversation="none",
        audio=RealtimeResponseCreateAudioOutput(output=response_audio.Output(voice="cedar")),
    )
    event = parse(ResponseCreateEvent(type="response.create", event_id="r", response=params))
    assert event == ResponseCreate(
        "r", "Shorter.", ("text",), "cedar", 50, ignored=("response.conversation",)
    )
    old = beta.response_create_event.Response(
        modalities=["audio", "text"], voice="echo", max_response_output_tokens=80
    )
    event = parse(beta.ResponseCreateEvent(type="response.create", response=old))
    assert event == ResponseCreate(None, None, ("audio",), "echo", 80)


# --- bad input --------------------------------------------------------------------------


def _e(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "event_id": "evt_bad", **fields})


def _session(**fields: Any) -> str:
    return _e("session.update", session={"type": "realtime", **fields})


def _item(**fields: Any) -> str:
    return _e("conversation.item.create", item={"type": "message", "role": "user", **fields})


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


BAD: list[tuple[str | bytes, str, str | None, str | None]] = [
    # raw frame, code, param, event_id the error carries
    (b"\xff\xfe{}", "invalid_json", None, None),
    ('{"type": ', "invalid_json", None, None),
    ('{"type": "input_audio_buffer.commit", "x": NaN}', "invalid_json", None, None),
    ("[" * 100_000, "invalid_json", None, None),
    ("[1, 2]", "invalid_event", None, None),
    ('{"event_id": "evt_bad"}', "invalid_event", None, "evt_bad"),
    ('{"type": 7, "event_id": "evt_bad"}', "invalid_event", None, "evt_bad"),
    ('{"type": "input_audio_buffer.commit", "event_id": 5}', "invalid_value", "event_id", None),
    (_e("response.audio.delta"), "unknown_event_type", "type", "evt_bad"),
    (_e("input_audio_buffer.append"), "invalid_value", "audio", "evt_bad"),
    (_e("input_audio_buffer.append", audio=12), "invalid_value", "audio", "evt_bad"),
    (_e("input_audio_buffer.append", audio="%%%not base64"), "invalid_audio", "audio", "evt_bad"),
    (_e("input_audio_buffer.append", audio=_b64(b"abc")), "invalid_audio", "audio", "evt_bad"),
    (_e("session.update"), "invalid_value", "session", "evt_bad"),
    (_e("session.update", session="fast"), "invalid_value", "session", "evt_bad"),
    (_session(type="transcription"), "invalid_value", "session.type", "evt_bad"),
    (_session(audio={"input": {"format": {"type": "audio/pcmu"}}}),
     "unsupported_audio_format", "session.audio.input.format", "evt_bad"),
    (_session(audio={"input": {"format": {"type": "audio/pcm", "rate": 16000}}}),
     "unsupported_audio_format", "session.audio.input.format", "evt_bad"),
    (_session(audio={"output": {"format": {"type": "audio/pcma"}}}),
     "unsupported_audio_format", "session.audio.output.format", "evt_bad"),
    (_session(input_audio_format="g711_ulaw"),
     "unsupported_audio_format", "session.input_audio_format", "evt_bad"),
    (_session(audio={"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}),
     "invalid_value", "session.audio.input.turn_detection.threshold", "evt_bad"),
    (_session(turn_detection={"silence_duration_ms": "500"}),
     "invalid_value", "session.turn_detection.silence_duration_ms", "evt_bad"),
    (_session(turn_detection={"type": "push_to_talk"}),
     "invalid_value", "session.turn_detection.type", "evt_bad"),
    (_session(turn_detection={"create_response": "yes"}),
     "invalid_value", "session.turn_detection.create_response", "evt_bad"),
    (_session(output_modalities=[]), "invalid_value", "session.output_modalities", "evt_bad"),
    (_session(modalities=["video"]), "invalid_value", "session.modalities", "evt_bad"),
    (_session(max_output_tokens=0), "invalid_value", "session.max_output_tokens", "evt_bad"),
    (_session(max_output_tokens="lots"), "invalid_value", "session.max_output_tokens", "evt_bad"),
    (_session(audio={"output": {"speed": 3}}),
     "invalid_value", "session.audio.output.speed", "evt_bad"),
    (_session(voice=""), "invalid_value", "session.voice", "evt_bad"),
    (_session(zenglow={"persona": 3}), "invalid_value", "session.zenglow.persona", "evt_bad"),
    (_e("conversation.item.create"), "invalid_value", "item", "evt_bad"),
    (_item(content=[{"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]),
     "unsupported_content", "item.content[0].type", "evt_bad"),
    (_item(content=[{"type": "input_text", "text": "hi"}, {"type": "input_audio"}]),
     "unsupported_content", "item.content[1].type", "evt_bad"),
    (_e("conversation.item.create", item={"type": "mcp_call", "name": "f"}),
     "unsupported_content", "item.type", "evt_bad"),
    (_e("conversation.item.create", item={"type": "function_call", "name": "f"}),
     "invalid_value", "item.call_id", "evt_bad"),
    (_item(role="tool", content=[]), "invalid_value", "item.role", "evt_bad"),
    (_item(content=[]), "invalid_value", "item.content", "evt_bad"),
    (_item(content=["hi"]), "invalid_value", "item.content[0]", "evt_bad"),
    (_item(content=[{"type": "input_text"}]), "invalid_value", "item.content[0].text", "evt_bad"),
    (_e("conversation.item.truncate", item_id="a", content_index=0),
     "invalid_value", "audio_end_ms", "evt_bad"),
    (_e("conversation.item.truncate", item_id="a", content_index=0, audio_end_ms=-1),
     "invalid_value", "audio_end_ms", "evt_bad"),
    (_e("conversation.item.truncate", item_id="a", content_index=True, audio_end_ms=10),
     "invalid_value", "content_index", "evt_bad"),
    (_e("conversation.item.truncate", item_id="a", content_index=0, audio_end_ms=1.5),
     "invalid_value", "audio_end_ms", "evt_bad"),
    (_e("conversation.item.delete", item_id=""), "invalid_value", "item_id", "evt_bad"),
    (_e("response.create", response={"output_modalities": ["x"]}),
     "invalid_value", "response.output_modalities", "evt_bad"),
    (_e("response.create", response={"audio": {"output": {"format": {"type": "audio/pcmu"}}}}),
     "unsupported_audio_format", "response.audio.output.format", "evt_bad"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "code", "param", "event_id"), BAD)
def test_bad_input_names_the_problem(
    raw: str | bytes, code: str, param: str | None, event_id: str | None
) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_event(raw, max_bytes=MAX)
    error = caught.value
    assert (error.code, error.param, error.event_id) == (code, param, event_id)
    assert error.message


def test_unknown_type_is_named_and_integral_floats_are_accepted() -> None:
    with pytest.raises(ProtocolError, match=r"'response\.audio\.delta'"):
        parse_client_event(_e("response.audio.delta"), max_bytes=MAX)
    raw = _e("conversation.item.truncate", item_id="a", content_index=0, audio_end_ms=1500.0)
    assert parse_client_event(raw, max_bytes=MAX) == ItemTruncate("evt_bad", "a", 0, 1500)


def test_size_limit_counts_utf8_bytes() -> None:
    frame = _e("session.update", session={"instructions": "é" * 100})
    size = len(frame.encode())
    assert isinstance(parse_client_event(frame, max_bytes=size), SessionUpdate)
    for raw in (frame, frame.encode()):
        with pytest.raises(ProtocolError) as caught:
            parse_client_event(raw, max_bytes=size - 1)
        assert caught.value.code == "message_too_large"


# --- server events against the SDK's models -----------------------------------------------

SDK_TYPES: dict[str, type[SDKModel]] = {
    typing.get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in typing.get_args(typing.get_args(RealtimeServerEvent)[0])
}
# fields of the session object that GA clients do not model (kept as extras by the SDK)
SESSION_EXTRAS = {"id", "object", "zenglow"}


def assert_no_extras(value: Any, path: str = "") -> None:
    """Every field we send must be one the SDK models: a misspelling would land in extras."""
    if isinstance(value, SDKModel):
        extras = set(value.model_extra or {})
        allowed = SESSION_EXTRAS if path.endswith("session") else set()
        assert extras <= allowed, f"{path}: fields unknown to the SDK: {extras - allowed}"
        for name in type(value).model_fields:
            assert_no_extras(getattr(value, name), f"{path}.{name}")
    elif isinstance(value, list):
        for i, entry in enumerate(value):
            assert_no_extras(entry, f"{path}[{i}]")


# What the Agents SDK validates every server event against, here in pydantic's strict mode
SERVER_EVENT = TypeAdapter(Annotated[RealtimeServerEvent, Field(discriminator="type")])


def check_standard(event: dict[str, Any]) -> SDKModel:
    wire = json.dumps(event)
    cls = SDK_TYPES[event["type"]]
    model = cls.model_validate(json.loads(wire))
    assert_no_extras(model, event["type"])
    assert isinstance(validate_type(type_=RealtimeServerEvent, value=json.loads(wire)), cls)
    assert isinstance(SERVER_EVENT.validate_python(json.loads(wire), strict=True), cls)
    parsed = RealtimeConnection.parse_event(typing.cast(Any, None), wire)  # what recv() does
    assert isinstance(parsed, cls) and parsed.type == event["type"]
    return model


def conversation(events: ServerEvents) -> list[dict[str, Any]]:
    """One of everything, in a plausible order."""
    vad_on = TurnDetection(silence_duration_ms=600)
    session = session_object(
        session_id="sess_1", model="jarvis", voice="en_US-joe-medium", instructions="Be kind.",
        turn_detection=vad_on, transcription=Transcription(model="tiny.en", language="en"),
        zenglow={"persona": "jarvis", "ignored": ["session.tracing"]},
    )  # fmt: skip
    ptt = session_object(
        session_id="sess_1", model="jarvis", voice="v", output_modalities=("text",),
        max_output_tokens=300,
    )  # fmt: skip
    pcm = np.arange(-240, 240, dtype=np.int16)
    spoken = assistant_item("item_a", "audio", "Hi there.")
    texted = assistant_item("item_t", "text", "Hi.")
    done = response_object(
        "resp_1", status="completed", output=[spoken], voice="v", input_tokens=12, output_tokens=5
    )
    return [
        events.session_created(session),
        events.session_updated(ptt),
        events.speech_started("item_u", 120),
        events.speech_stopped("item_u", 1840),
        events.audio_committed("item_u", None),
        events.audio_committed("item_u2", "item_u"),
        events.audio_cleared(),
        events.item_added(user_audio_item("item_u", status="in_progress")),
        events.item_done(user_audio_item("item_u", "hello"), "item_0"),
        events.item_added(message_item("item_x", "user", "typed")),
        events.item_added(message_item("item_s", "system", "context")),
        events.item_done(message_item("item_y", "assistant", "seeded")),
        events.item_retrieved(spoken),
        events.transcription_delta("item_u", "hel"),
        events.transcription_completed("item_u", "hello", audio_seconds=1.72),
        events.transcription_failed("item_v", "audio too short"),
        events.item_truncated("item_a", 640),
        events.item_deleted("item_a"),
        events.response_created(response_object("resp_1", voice="v")),
        events.output_item_added("resp_1", assistant_item("item_a", status="in_progress")),
        events.content_part_added("resp_1", "item_a"),
        events.audio_delta("resp_1", "item_a", pcm),
        events.transcript_delta("resp_1", "item_a", "Hi "),
        events.audio_done("resp_1", "item_a"),
        events.transcript_done("resp_1", "item_a", "Hi there."),
        events.content_part_done("resp_1", "item_a", "audio", "Hi there."),
        events.output_item_done("resp_1", spoken),
        events.response_done(done),
        events.function_arguments_delta("resp_5", "item_f", "call_1", '{"a":', 0),
        events.function_arguments_done("resp_5", "item_f", "call_1", "f", '{"a": 1}', 0),
        events.content_part_added("resp_2", "item_t", "text"),
        events.text_delta("resp_2", "item_t", "Hi"),
        events.text_done("resp_2", "item_t", "Hi."),
        events.content_part_done("resp_2", "item_t", "text", "Hi."),
        events.response_done(response_object(
            "resp_2", status="incomplete", reason="max_output_tokens", output=[texted],
            output_modalities=("text",),
        )),
        events.response_done(response_object("resp_3", status="cancelled", reason="turn_detected")),
        events.response_done(response_object("resp_4", status="failed", error="model_unavailable")),
        events.error("invalid_value", "bad", param="session.voice", event_id="evt_9"),
        events.error("engine_failed", "tts crashed", kind="server_error"),
        events.protocol_error(ProtocolError("invalid_json", "not JSON")),
        events.output_audio_buffer("started", "resp_1"),  # WebRTC: the track's playback
        events.output_audio_buffer("stopped", "resp_1"),
        events.output_audio_buffer("cleared", "resp_3"),
    ]  # fmt: skip


def extensions(events: ServerEvents) -> list[dict[str, Any]]:
    cues = [VisemeCue("sil", 0.0, 12.34), VisemeCue("aa", 12.34, 80.0)]
    return [
        events.visemes("resp_1", "item_a", 240.0, cues),
        events.state("speaking"),
        events.turn_metrics("resp_1", endpoint_ms=610.04, stt_ms=95.0, voice_to_voice_ms=None),
        events.persona("leonardo", "analysis requested"),
        events.citations("resp_1", "item_a", 1234.56, "It is 27 days.", [LEAVE]),
        events.conversation("conv_1", True, 2),
        events.tool("resp_1", "call_1", "get_time", "completed", "It is noon."),
    ]


class Recorder(ServerEvents):
    """ServerEvents that note which of their builders were called."""

    def __init__(self) -> None:
        super().__init__()
        self.called: set[str] = set()

    def __getattribute__(self, name: str) -> Any:
        if not name.startswith("_") and callable(getattr(ServerEvents, name, None)):
            object.__getattribute__(self, "called").add(name)
        return super().__getattribute__(name)


def builders() -> set[str]:
    return {
        n for n in dir(ServerEvents) if not n.startswith("_") and callable(getattr(ServerEvents, n))
    }


def test_every_standard_event_validates_against_the_sdk() -> None:
    recorder = Recorder()
    built = conversation(recorder)
    extensions(recorder)
    assert recorder.called == builders(), "a server event builder this test never checks"
    assert {e["type"] for e in built} <= set(SDK_TYPES)
    for event in built:
        check_standard(event)
    assert len({e["event_id"] for e in built}) == len(built)


def test_session_object_is_a_full_ga_session() -> None:
    event = conversation(ServerEvents())[0]
    session = RealtimeSessionCreateResponse.model_validate(event["session"])
    assert set(session.model_extra or {}) == {"zenglow"}
    assert session.audio and session.audio.input and session.audio.output
    assert session.audio.input.format == formats.AudioPCM(type="audio/pcm", rate=24000)
    assert session.audio.output.voice == "en_US-joe-medium"
    vad_json = session.audio.input.turn_detection
    assert vad_json is not None and vad_json.type == "server_vad"
    assert vad_json.silence_duration_ms == 600 and vad_json.threshold == 0.5
    transcription = session.audio.input.transcription
    assert transcription == AudioTranscription(model="tiny.en", language="en")
    ptt = conversation(ServerEvents())[1]["session"]
    assert ptt["audio"]["input"]["turn_detection"] is None
    assert ptt["output_modalities"] == ["text"] and ptt["max_output_tokens"] == 300


def test_event_ids_come_from_the_injected_factory() -> None:
    counter = itertools.count(1)
    built = conversation(ServerEvents(lambda: f"event_{next(counter)}"))
    assert [e["event_id"] for e in built] == [f"event_{i}" for i in range(1, len(built) + 1)]


def test_audio_delta_round_trips_pcm() -> None:
    events = ServerEvents()
    pcm = (np.cos(np.arange(960) / 3.0) * 30000).astype(np.int16)
    for chunk in (pcm, pcm.tobytes()):
        delta = events.audio_delta("r", "i", chunk)["delta"]
        assert np.array_equal(np.frombuffer(base64.b64decode(delta), "<i2"), pcm)
    with pytest.raises(TypeError):
        events.audio_delta("r", "i", pcm.astype(np.float32))
    with pytest.raises(ValueError):
        events.audio_delta("r", "i", b"\x00\x01\x02")


def test_response_status_details() -> None:
    built = conversation(ServerEvents())
    done = [check_standard(e) for e in built if e["type"] == "response.done"]
    first = done[0].response
    assert first.status == "completed" and first.status_details is None
    assert first.usage and first.usage.total_tokens == 17
    details = [(d.response.status, d.response.status_details) for d in done[1:]]
    assert [(s, x.type, x.reason) for s, x in details if x and x.reason] == [
        ("incomplete", "incomplete", "max_output_tokens"),
        ("cancelled", "cancelled", "turn_detected"),
    ]
    failed = details[2][1]
    assert failed and failed.error and failed.error.code == "model_unavailable"


def test_protocol_error_becomes_an_error_event_with_the_client_event_id() -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_client_event(_session(voice=""), max_bytes=MAX)
    event = ServerEvents().protocol_error(caught.value)
    error = check_standard(event).error
    assert (error.type, error.code, error.param, error.event_id) == (
        "invalid_request_error", "invalid_value", "session.voice", "evt_bad",
    )  # fmt: skip


def test_extension_events_pass_through_the_sdk_parse_path() -> None:
    for event in extensions(ServerEvents()):
        assert event["type"].startswith("zenglow.") and event["type"] not in SDK_TYPES
        wire = json.dumps(event)
        parsed = RealtimeConnection.parse_event(typing.cast(Any, None), wire)
        assert parsed.type == event["type"]  # what `connection.on(type, ...)` dispatches on
        kept = {k: getattr(parsed, k) for k in event}
        assert kept == json.loads(wire)


def test_extension_payloads() -> None:
    visemes, state, metrics, persona, citations, conversation, tool = extensions(ServerEvents())
    assert visemes["audio_offset_ms"] == 240.0
    assert visemes["cues"] == [
        {"viseme": "sil", "start_ms": 0.0, "end_ms": 12.3},
        {"viseme": "aa", "start_ms": 12.3, "end_ms": 80.0},
    ]
    assert state["state"] == "speaking"
    assert metrics["metrics"] == {
        "endpoint_ms": 610.0, "stt_ms": 95.0, "llm_first_token_ms": None,
        "first_sentence_ms": None, "tts_first_audio_ms": None, "first_audio_sent_ms": None,
        "voice_to_voice_ms": None,
    }  # fmt: skip
    assert (persona["persona"], persona["reason"]) == ("leonardo", "analysis requested")
    assert (tool["name"], tool["status"]) == ("get_time", "completed")
    assert tool["output"] == "It is noon."
    assert (citations["response_id"], citations["audio_offset_ms"]) == ("resp_1", 1234.6)
    assert citations["text"] == "It is 27 days."
    assert citations["sources"] == [
        {
            "document_id": "doc_1", "title": "Staff Handbook", "locator": "Leave > Annual",
            "text": "Every staff member gets 27 days.", "score": 0.612, "audio_offset_ms": 1234.6,
        }
    ]  # fmt: skip
    untimed = ServerEvents().citations("resp_1", "item_t", None, "It is 27 days.", [LEAVE])
    assert untimed["audio_offset_ms"] is None and untimed["sources"][0]["audio_offset_ms"] is None
    assert conversation["type"] == "zenglow.conversation"
    assert conversation == {**conversation, "id": "conv_1", "resumed": True, "items": 2}
    with pytest.raises(ValueError):
        ServerEvents().state("dancing")
    with pytest.raises(ValueError):
        ServerEvents().turn_metrics("r", latency_ms=3.0)
