import pickle

from common.np import *


class BaseModel:
    def save_params(self, file_name):
        with open(file_name, 'wb') as f:
            pickle.dump([p.astype(np.float16) for p in self.params], f)

    def load_params(self, file_name):
        with open(file_name, 'rb') as f:
            params = pickle.load(f)
        for param, saved in zip(self.params, params):
            param[...] = saved.astype('f')
