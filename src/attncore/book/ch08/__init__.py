"""Drop-in for the book's ``ch08/attention_layer.py``."""
