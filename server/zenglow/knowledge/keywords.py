"""Keyword search over the passages' FTS5 index (BM25, Porter stemming), within a budget.

Scoring a match costs a lookup per matching passage, so a word found in very many passages
(which BM25 weighs little anyway) would cost more than all the rest together: the rarest
words are kept while the passages they match stay within `BUDGET`.  On a small index every
word is kept.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

BUDGET = 3000  # passages a keyword search scores at most


def search(db: sqlite3.Connection, terms: Sequence[str], limit: int) -> list[int]:
    """Passage ids holding any of `terms`, best first; heading words count half."""
    kept: list[tuple[int, str]] = []
    for term in terms:
        quoted = '"' + term.replace('"', "") + '"'
        count = db.execute(
            "SELECT count(*) FROM (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
            (quoted, BUDGET + 1),
        ).fetchone()[0]
        if count:
            kept.append((int(count), quoted))
    match, total = [], 0
    for count, quoted in sorted(kept):
        if total + count > BUDGET:
            break
        match.append(quoted)
        total += count
    if not match:
        return []
    rows = db.execute(
        "SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?"
        " ORDER BY bm25(chunks_fts, 1.0, 0.5) LIMIT ?",
        (" OR ".join(match), limit),
    )
    return [int(r[0]) for r in rows]
