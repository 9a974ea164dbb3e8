"""Where conversations are kept, for how long, and when a kiosk starts afresh."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from .personas import Section


def default_data_dir() -> Path:
    """`$XDG_DATA_HOME/zenglow`, else `~/.local/share/zenglow` (read when settings load)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "zenglow"


class StorageSettings(Section):
    backend: Literal["sqlite", "off"] = Field(
        "sqlite", description="where conversations are kept; off = in memory only"
    )
    data_dir: Path = Field(
        default_factory=default_data_dir, description="the conversation database's folder"
    )
    retention_days: float | None = Field(
        None, gt=0, description="conversations untouched this long are erased; None = kept"
    )
    synchronous: Literal["normal", "full"] = Field(
        "normal",
        description="normal: a killed server loses nothing committed; full: nor does a "
        "power cut (an fsync per write)",
    )
    busy_timeout_ms: int = Field(
        500, ge=0, description="how long a write waits for a locked database before failing"
    )
    retry_s: float = Field(
        5.0, gt=0, description="after a failed write, how long before the next try"
    )
    kiosk_idle_s: float = Field(
        300.0, gt=0, description="the kiosk starts a new conversation after this long idle"
    )
