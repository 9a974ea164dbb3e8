"""The OpenAI Realtime wire codec (pure): client events in, server events out."""
