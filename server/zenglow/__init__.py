"""ZenGlow: a self-hosted, real-time voice companion."""

__version__ = "0.1.0"
