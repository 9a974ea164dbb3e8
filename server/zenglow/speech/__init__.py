"""Pure speech pieces: audio conversion, VAD turn detection, the sentence chunker, visemes."""
