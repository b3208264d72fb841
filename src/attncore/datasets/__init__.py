"""Data sets: the book's character-level sequence files and word-level parallel text."""
