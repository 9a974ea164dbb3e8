"""`zenglow conversations list | show | export | delete | erase | purge`, on the store file
itself (the server may be running: SQLite's WAL lets both in).

An owner is a key id (`key_...`, as the server logs it), `server` (auth off), or the API key
itself, which is turned into its id.  `erase --owner` removes every conversation of one key.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from ..settings import Settings
from .base import SERVER_OWNER, StorageError
from .conversations import Conversations, open_store


class ConversationsUnknown(StorageError):
    code = "conversation_not_found"


def owner_id(value: str | None) -> str | None:
    if value is None or value == SERVER_OWNER or value.startswith("key_"):
        return value
    from ..transports.door.keys import key_id

    return key_id(value)


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings.storage)
    if store is None:
        raise StorageError("storage.backend is off: there are no conversations to show")
    await store.open()
    try:
        return await _act(args, settings, store)
    finally:
        await store.close()


async def _act(args: argparse.Namespace, settings: Settings, store: Any) -> int:
    owner = owner_id(args.owner)
    action = args.action
    if action == "list":
        found = await store.conversations(owner, limit=args.limit)
        if args.json:
            print(json.dumps([{**c.as_json(), "owner": c.owner} for c in found], indent=2))
        for c in found if not args.json else ():
            print(f"{c.id}  {_when(c.updated_at)}  {c.items:3d} items  {c.owner}  {c.preview}")
        return 0
    if action == "erase":
        if owner is None:
            raise StorageError("erase needs --owner: the key whose conversations to erase")
        print(f"erased {await store.erase_owner(owner)} conversation(s) of {owner}")
        return 0
    if action == "purge":
        gone = await Conversations(settings.storage, store).purge()
        print(f"erased {gone} conversation(s) past storage.retention_days")
        return 0
    if not args.ids:
        raise StorageError(f"{action} needs one or more conversation ids")
    for conversation_id in args.ids:
        info = await store.conversation(conversation_id, owner)
        if info is None:
            raise ConversationsUnknown(f"no conversation with id {conversation_id!r}")
        if action == "delete":
            await store.delete(conversation_id, owner)
            print(f"deleted {conversation_id}")
            continue
        items = await store.items(conversation_id, owner) or []
        if action == "export":
            body = {"format": "zenglow.conversation.export/1", "exported_at": round(time.time(), 3)}
            body |= {**info.as_json(), "data": [i.as_json() for i in items]}
            print(json.dumps(body, indent=2, ensure_ascii=False))
            continue
        print(f"{info.id}  {info.owner}  started {_when(info.created_at)}")
        for item in items:
            who = item.persona or item.role
            mark = "" if item.status == "completed" else f" [{item.status}]"
            print(f"  {who}: {item.text}{mark}")
    return 0


def run_conversations(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_run(args, settings))
    except StorageError as exc:
        print(f"zenglow conversations: {exc}", file=sys.stderr)
        return 2


def add_parsers(sub: Any, settings_of: Any) -> None:
    sp = sub.add_parser("conversations", help="list, show, export or erase saved conversations")
    sp.add_argument("action", choices=["list", "show", "export", "delete", "erase", "purge"])
    sp.add_argument("ids", nargs="*", metavar="ID")
    sp.add_argument("--owner", help="a key id (key_...), 'server', or the API key itself")
    sp.add_argument("--limit", type=int, default=50, help="list: how many at most")
    sp.add_argument("--json", action="store_true", help="list: machine-readable output")
    sp.set_defaults(func=lambda args: run_conversations(args, settings_of(args)))
