"""Where release state lives on each runtime (the file store is envctl/release/store.py)."""
