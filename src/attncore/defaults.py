"""Named defaults and choices shared by the data sets, the models, the command line and the benchmark."""

from __future__ import annotations

__all__ = ["CONCATS", "DECODE_BATCH", "MAX_BEAM", "MAX_LENGTH", "MAX_TOKENS", "SEED"]

# The book's seed: its data sets are shuffled with it, and ``attncore train`` seeds the weights with it.
SEED = 1984

# Rows decoded at once by batched evaluation and translation. Large enough that the per-step work is
# matrix products rather than Python, small enough that a batch's encoder states stay in memory at
# the Keras scale (1,000 x 95 x 512 float32 = 195 MB).
DECODE_BATCH = 1000

# The widest beam the command line takes. Beam search holds every row's encoder states once per beam, so
# the rows decoded at once shrink as the beam grows (DECODE_BATCH // beam, at least one): at this width
# one row at the Keras scale holds 1,024 x 95 x 512 float32 = 199 MB.
MAX_BEAM = 1024

# The longest sentence of parallel text that eval and translate read or write, in tokens (without the
# end marker): longer than the training sentences is fine (the masks allow any length); the cap keeps one
# row's attention (MAX_TOKENS x MAX_TOKENS scores per step) and its encoder states small.
MAX_TOKENS = 1000

# The longest question or answer (tokens, or characters for character data) that ``attncore train`` takes
# and that a model's record may declare (``question_length``, ``answer_length``): eval and translate pad
# rows to it and decode that many steps, so a number from a file must not reach memory or time unbounded.
MAX_LENGTH = 10 * MAX_TOKENS

# The orders in which the attention decoder joins the attention's context and its own state
# (AttentionSeq2seq's ``concat``): the book's, and Keras's ``Concatenate()([decoder_outputs, context])``.
CONCATS = ("context-state", "state-context")
