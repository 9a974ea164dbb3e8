"""The Realtime protocol over WebRTC: SDP offer/answer over HTTP, Opus tracks, events on
a data channel."""
