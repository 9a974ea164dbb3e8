"""The conversation store: durable history per owner, behind one interface (`base.py`)."""

from .base import (
    SERVER_OWNER,
    Changes,
    ConversationInfo,
    ConversationStore,
    StorageCorrupt,
    StorageError,
    StoredItem,
)
from .conversations import ConversationNotFound, Conversations
from .health import StoreHealth
from .log import ConversationLog

__all__ = [
    "SERVER_OWNER",
    "Changes",
    "ConversationInfo",
    "ConversationLog",
    "ConversationNotFound",
    "ConversationStore",
    "Conversations",
    "StorageCorrupt",
    "StorageError",
    "StoreHealth",
    "StoredItem",
]
