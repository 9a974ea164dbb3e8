"""Data files of the embedders: the MiniLM tokenizer, with its notice and licence."""
