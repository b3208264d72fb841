from common.config import GPU

import numpy as np
