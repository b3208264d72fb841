from common.np import *
from common.functions import softmax

SOURCE = "the fixture's own NumPy layers"
