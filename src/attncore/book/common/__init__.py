"""Drop-ins for the book's ``common`` layer modules (``functions``, ``layers``, ``time_layers``)."""
