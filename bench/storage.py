"""What saving conversations costs: one store write, and a typed turn's first audio with the
store on and off (two servers over the same loaded engines, turns alternating, same run).

    .venv/bin/python bench/storage.py
    .venv/bin/python bench/storage.py --turns 12 --writes 1000
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import engines_with
from tests.server import LoopbackServer, connect, user_text

from zenglow.app import create_app
from zenglow.engines.loader import build_engines
from zenglow.settings import load_settings
from zenglow.settings.storage import StorageSettings
from zenglow.storage import Changes, StoredItem
from zenglow.storage.sqlite import SqliteStore


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]
    return f"median {1000 * statistics.median(values):7.2f} ms   p95 {1000 * p95:7.2f} ms"


async def writes(n: int, synchronous: str) -> list[float]:
    with tempfile.TemporaryDirectory() as folder:
        store = SqliteStore(Path(folder), synchronous=synchronous)
        await store.open()
        took = []
        for i in range(n):
            said = "A sentence of a reply, about as long as the ones people hear. " * 2
            item = StoredItem(
                f"item_{i // 4}", "assistant", said * (1 + i % 4), status="in_progress"
            )
            t = time.perf_counter()
            await store.write("conv_bench", "server", Changes([item]))
            took.append(time.perf_counter() - t)
        await store.close()
        return took


async def first_audio(srv: LoopbackServer, text: str) -> tuple[float, float]:
    """(typed item -> its item.done, response.create -> first audio delta), in seconds."""
    async with connect(srv.ws_url) as client:
        await client.wait_for("zenglow.state")
        t0 = time.perf_counter()
        await client.send(user_text(text))
        await client.wait_for("conversation.item.done")
        t1 = time.perf_counter()
        await client.send({"type": "response.create"})
        await client.wait_for("response.output_audio.delta", timeout=120)
        t2 = time.perf_counter()
        await client.wait_for("response.done", timeout=120)
    return t1 - t0, t2 - t1


async def main(args: argparse.Namespace) -> None:
    for mode in ("normal", "full"):
        print(f"store write, synchronous={mode:<6}  {ms(await writes(args.writes, mode))}")
    engines = build_engines(load_settings(None))
    engines.load()
    with tempfile.TemporaryDirectory() as folder:
        on = engines_with(engines, storage=StorageSettings(data_dir=Path(folder)))
        off = engines_with(engines, storage=StorageSettings(backend="off"))
        with (
            LoopbackServer(create_app(on.settings, on)) as srv_on,
            LoopbackServer(create_app(off.settings, off)) as srv_off,
        ):
            await first_audio(srv_on, "Hello.")  # warm both paths
            await first_audio(srv_off, "Hello.")
            got: dict[str, list[tuple[float, float]]] = {"on": [], "off": []}
            for i in range(args.turns):
                for name, srv in (("on", srv_on), ("off", srv_off))[:: 1 if i % 2 else -1]:
                    got[name].append(await first_audio(srv, f"Say something about tea, {i}."))
    for name in ("off", "on"):
        print(f"store {name:<3} typed item done   {ms([a for a, _ in got[name]])}")
        print(f"store {name:<3} first audio       {ms([b for _, b in got[name]])}")
    ratio = statistics.median(b for _, b in got["on"]) / statistics.median(b for _, b in got["off"])
    print(f"first audio, on / off: {ratio:.3f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--turns", type=int, default=10, help="typed turns per mode")
    p.add_argument("--writes", type=int, default=500, help="store writes per mode")
    asyncio.run(main(p.parse_args()))
