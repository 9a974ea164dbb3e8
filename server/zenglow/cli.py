"""`zenglow serve | transcribe | say | chat | bench | doctor | ingest | reindex | documents |
conversations`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .engines.base import ChatMessage, EngineError, Voice
from .knowledge.commands import add_parsers as add_knowledge_parsers
from .knowledge.documents import KnowledgeError
from .settings import Settings, SettingsError, check_environment, load_settings
from .speech.audio import AudioError
from .storage.commands import add_parsers as add_conversation_parsers


class UsageError(Exception):
    """Bad input from the command line: printed as one line, exit status 2."""


def _settings(args: argparse.Namespace) -> Settings:
    return check_environment(load_settings(args.config))


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .engines.loader import stt_from
    from .speech.audio import read_audio

    s = _settings(args)
    audio = read_audio(args.file, sample_rate=16000)
    stt = stt_from(s)
    result = stt.transcribe_sync(audio, words=args.json)
    if args.json:
        out = {
            "text": result.text,
            "language": result.language,
            "duration": round(result.duration, 3),
            "segments": [
                {"text": g.text, "start": round(g.start, 3), "end": round(g.end, 3)}
                for g in result.segments
            ],
            "words": [
                {
                    "text": w.text,
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "probability": round(w.probability, 3),
                }
                for w in result.words
            ],
        }
        print(json.dumps(out, indent=2))
    else:
        print(result.text)
    return 0


async def _synthesize(
    text: str, voice: Voice, rate: int | None
) -> tuple[np.ndarray, list[dict[str, Any]], float, int]:
    from .engines.piper import PiperTTS

    tts = PiperTTS()
    pcm_parts: list[np.ndarray] = []
    cues: list[dict[str, Any]] = []
    offset_ms = 0.0
    async for chunk in tts.synthesize(text, voice=voice, sample_rate=rate):
        rate = chunk.sample_rate
        pcm_parts.append(chunk.pcm)
        cues.extend(
            {
                "viseme": c.viseme,
                "start_ms": round(offset_ms + c.start_ms, 1),
                "end_ms": round(offset_ms + c.end_ms, 1),
            }
            for c in chunk.cues
        )
        offset_ms += chunk.duration_ms
    assert rate is not None  # synthesize yields at least one chunk or raises
    return np.concatenate(pcm_parts), cues, offset_ms, rate


def cmd_say(args: argparse.Namespace) -> int:
    from .engines.loader import voice_of
    from .speech.audio import write_wav

    s = _settings(args)
    for out in (args.output, args.visemes):
        if out and not Path(out).resolve().parent.is_dir():
            raise UsageError(f"no such folder for {out}")
    voice = voice_of(s.persona(args.persona))
    if args.voice:
        if not Path(args.voice).is_file():
            raise UsageError(f"no such Piper voice: {args.voice}")
        voice = replace(voice, model=args.voice)
    if args.speed is not None:
        voice = replace(voice, speed=args.speed)
    pcm, cues, duration_ms, rate = asyncio.run(_synthesize(args.text, voice, args.rate))
    write_wav(args.output, pcm, rate)
    if args.visemes:
        doc = {"sample_rate": rate, "duration_ms": round(duration_ms, 1), "cues": cues}
        Path(args.visemes).write_text(json.dumps(doc, indent=1))
    print(
        f"{args.output}: {len(pcm) / rate:.2f} s at {rate} Hz, {len(cues)} viseme cues",
        file=sys.stderr,
    )
    return 0


async def _chat(args: argparse.Namespace) -> int:
    from .engines.loader import build_engines

    s = _settings(args)
    name = (args.persona or s.default_persona).lower()
    persona = s.persona(name)
    engines = build_engines(s)
    chat = engines.chat_for(name)
    user: ChatMessage = {"role": "user", "content": args.text}
    messages = [*engines.system_messages(name), user]
    async for delta in chat.stream(messages, max_tokens=persona.chat.max_tokens):
        sys.stdout.write(delta)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    given = {
        "host": args.host,
        "port": args.port,
        "certfile": args.certfile,
        "keyfile": args.keyfile,
    }
    server = {k: v for k, v in given.items() if v is not None}
    # Merged over the file and the environment, and validated like them.
    s = check_environment(load_settings(args.config, **({"server": server} if server else {})))
    if bool(s.server.certfile) != bool(s.server.keyfile):
        raise UsageError("HTTPS needs both --certfile and --keyfile")
    serve(s, log_level=args.log_level)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench.runner import run_bench

    return run_bench(args)


def cmd_doctor(args: argparse.Namespace) -> int:
    from .ops.doctor import run_doctor

    return run_doctor(args.config, as_json=args.json, timeout=args.timeout)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zenglow", description="ZenGlow voice companion")
    p.add_argument("--config", help="TOML settings file (default: $ZENGLOW_CONFIG)")
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("serve", help="run the server")
    sp.add_argument("--host")
    sp.add_argument("--port", type=int)
    sp.add_argument("--certfile", type=Path, help="TLS certificate (PEM) for HTTPS/WSS")
    sp.add_argument("--keyfile", type=Path, help="TLS private key (PEM)")
    sp.add_argument("--log-level", default="info")
    sp.set_defaults(func=cmd_serve)

    sp = sub.add_parser("transcribe", help="transcribe an audio file")
    sp.add_argument("file")
    sp.add_argument("--json", action="store_true", help="JSON with segment and word timings")
    sp.set_defaults(func=cmd_transcribe)

    sp = sub.add_parser("say", help="speak text into a WAV file (and viseme cues)")
    sp.add_argument("text")
    sp.add_argument("-o", "--output", required=True)
    sp.add_argument("--visemes", help="write the viseme cues as JSON here")
    sp.add_argument("--voice", help="a Piper .onnx voice (default: the persona's)")
    sp.add_argument("--persona", help="speak with this persona's voice")
    sp.add_argument("--speed", type=float)
    sp.add_argument("--rate", type=int, default=None, help="output sample rate")
    sp.set_defaults(func=cmd_say)

    sp = sub.add_parser("chat", help="stream a reply to TEXT")
    sp.add_argument("text")
    sp.add_argument("--persona")
    sp.set_defaults(func=lambda a: asyncio.run(_chat(a)))

    sp = sub.add_parser("bench", help="voice-to-voice benchmark over a speech folder")
    sp.add_argument("folder", nargs="?", help="folder with manifest.tsv (default: setA)")
    sp.add_argument("--url", help="a running server (default: start one on loopback)")
    sp.add_argument("--json", dest="json_out", help="write raw figures here")
    sp.add_argument("--limit", type=int, help="at most this many clips")
    sp.add_argument("--transport", choices=["websocket", "webrtc"], default="websocket")
    sp.add_argument("--repeat", type=int, default=1, help="run every clip this many times")
    sp.add_argument("--concurrency", type=int, default=1, help="sessions at once (each all clips)")
    sp.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for a reply")
    sp.add_argument("--ready-timeout", type=float, default=300.0, help="seconds to wait for /ready")
    sp.set_defaults(func=cmd_bench)

    sp = sub.add_parser("doctor", help="check engines, models, chat endpoints and GPUs")
    sp.add_argument("--json", action="store_true", help="machine-readable output")
    sp.add_argument("--timeout", type=float, default=10.0, help="seconds to wait per endpoint")
    sp.set_defaults(func=cmd_doctor)

    add_knowledge_parsers(sub, _settings)
    add_conversation_parsers(sub, _settings)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    text = getattr(args, "text", None)
    try:
        if text is not None and not text.strip():
            raise UsageError("empty text: give something to say")
        return int(args.func(args) or 0)
    except (UsageError, SettingsError, EngineError, AudioError, KnowledgeError) as exc:
        first, *rest = str(exc).splitlines() or [type(exc).__name__]
        details = "; ".join(line.strip() for line in rest if line.strip())
        print(f"zenglow {args.command}: {first} {details}".rstrip(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
