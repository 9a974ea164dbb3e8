"""The personas: who answers a turn (routing, stickiness, escalation to the analyst)."""
