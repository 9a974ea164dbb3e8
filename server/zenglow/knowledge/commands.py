"""The document commands of the command line: `zenglow ingest`, `zenglow reindex` and
`zenglow documents list | search | delete`.

Each takes the parsed arguments and the settings and returns the exit status.  Bad input
(a path that does not exist, a folder with nothing to read, an unknown id) raises a
`KnowledgeError`, which the command line prints as one line with status 2.  A bad file among
many is reported on its own line and the others are still ingested; the status is then 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from ..settings import Settings
from .documents import DocumentError, KnowledgeError
from .formats import SUFFIXES, kind_of
from .service import Knowledge


def files_under(paths: list[str]) -> list[Path]:
    """The files to ingest: given files as they are, folders searched recursively for the
    formats read (hidden files and folders left out), in a stable order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            inside = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not inside:
                kinds = ", ".join(sorted(set(SUFFIXES)))
                raise KnowledgeError(f"no documents in {path} (looked for {kinds})")
            found.extend(inside)
        elif path.is_file():
            kind_of(path.name)
            found.append(path)
        else:
            raise KnowledgeError(f"no such file or folder: {raw}")
    return list(dict.fromkeys(found))


def _progress(total: int, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, file=sys.stderr, disable=None, dynamic_ncols=True)


async def _ingest(settings: Settings, files: list[Path]) -> int:
    knowledge = Knowledge(settings.knowledge)
    counts: Counter[str] = Counter()
    passages = 0
    bar = _progress(len(files), "file")
    try:
        for path in files:
            bar.set_postfix_str(path.name[-40:], refresh=False)
            try:
                result = await knowledge.ingest(path)
            except DocumentError as exc:
                counts["refused"] += 1
                bar.write(f"zenglow ingest: {exc}", file=sys.stderr)
            else:
                doc = result.document
                counts[result.status] += 1
                passages += doc.chunks if result.status != "unchanged" else 0
                bar.write(f"{result.status:9} {doc.id}  {doc.chunks:4} passages  {path}")
            bar.update(1)
    finally:
        bar.close()
        await knowledge.aclose()
    summary = ", ".join(
        f"{counts[s]} {s}" for s in ("added", "replaced", "unchanged", "refused") if counts[s]
    )
    files_ = f"{len(files)} file{'s' if len(files) != 1 else ''}"
    print(f"{files_}: {summary}; {passages} passages embedded", file=sys.stderr)
    return 2 if counts["refused"] else 0


def run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_ingest(settings, files_under(args.paths)))


async def _reindex(settings: Settings) -> int:
    knowledge = Knowledge(settings.knowledge)
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress(total, "passage")
        bar.update(done - bar.n)

    try:
        count = await knowledge.reindex(progress)
    finally:
        if bar is not None:
            bar.close()
        await knowledge.aclose()
    print(f"reindexed {count} passages with {knowledge.embedder.id}", file=sys.stderr)
    return 0


def run_reindex(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_reindex(settings))


async def _documents(args: argparse.Namespace, settings: Settings) -> int:
    knowledge = Knowledge(settings.knowledge)
    try:
        if args.action == "list":
            docs = await knowledge.documents()
            if args.json:
                fields = ("id", "title", "source", "kind", "chunks", "size_bytes", "created_at")
                print(json.dumps([{f: getattr(d, f) for f in fields} for d in docs], indent=1))
            for d in [] if args.json else docs:
                print(f"{d.id}  {d.kind:4}  {d.chunks:4} passages  {d.title}  ({d.source})")
        elif args.action == "delete":
            for doc_id in args.ids:
                await knowledge.delete(doc_id)
                print(f"deleted {doc_id}")
        else:
            passages = await knowledge.search(" ".join(args.ids), args.k)
            if not passages:
                print("nothing relevant found", file=sys.stderr)
            for p in passages:
                print(f"{p.score:.2f}  {p.title} [{p.locator}] ({p.document_id})")
                print("      " + p.text.replace("\n", "\n      "))
    finally:
        await knowledge.aclose()
    return 0


def run_documents(args: argparse.Namespace, settings: Settings) -> int:
    if args.action in ("delete", "search") and not args.ids:
        what = "document ids" if args.action == "delete" else "a question"
        raise KnowledgeError(f"documents {args.action} needs {what}")
    if args.action == "list" and args.ids:
        raise KnowledgeError("documents list takes no arguments")
    return asyncio.run(_documents(args, settings))


def add_parsers(sub: Any, settings_of: Any) -> None:
    """The commands' argument parsers, under the command line's subparsers."""

    def runs(fn: Any) -> Any:
        return lambda args: fn(args, settings_of(args))

    sp = sub.add_parser("ingest", help="add documents (txt, md, pdf, html; folders recursively)")
    sp.add_argument("paths", nargs="+", metavar="PATH")
    sp.set_defaults(func=runs(run_ingest))

    sp = sub.add_parser("reindex", help="embed every passage again with the configured model")
    sp.set_defaults(func=runs(run_reindex))

    sp = sub.add_parser("documents", help="list, search or delete ingested documents")
    sp.add_argument("action", choices=["list", "search", "delete"])
    sp.add_argument("ids", nargs="*", metavar="ID|QUESTION")
    sp.add_argument("--json", action="store_true", help="list: machine-readable output")
    sp.add_argument("-k", type=int, default=5, help="search: passages to show at most")
    sp.set_defaults(func=runs(run_documents))
