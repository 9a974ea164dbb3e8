"""`zenglow bench`: a Realtime client that measures voice-to-voice latency.  The server
never imports it."""
