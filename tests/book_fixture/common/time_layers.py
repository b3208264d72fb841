from common.np import *
from common.layers import *
from common.functions import sigmoid


class TimeEmbedding:
    def __init__(self, W):
        self.params, self.grads = [W], [np.zeros_like(W)]

    def forward(self, xs):
        self.idx = xs
        return self.params[0][xs]

    def backward(self, dout):
        self.grads[0][...] = 0
        np.add.at(self.grads[0], self.idx, dout)


class TimeLSTM:
    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.stateful, self.h, self.c = stateful, None, None

    def forward(self, xs):
        Wx, Wh, b = self.params
        N, T, _ = xs.shape
        H = Wh.shape[0]
        h = np.zeros((N, H), 'f')
        c = np.zeros((N, H), 'f')
        hs = np.empty((N, T, H), 'f')
        self.steps = []
        for t in range(T):
            A = xs[:, t] @ Wx + h @ Wh + b
            f, g, i, o = sigmoid(A[:, :H]), np.tanh(A[:, H:2 * H]), sigmoid(A[:, 2 * H:3 * H]), sigmoid(A[:, 3 * H:])
            c_next = f * c + g * i
            h_next = o * np.tanh(c_next)
            self.steps.append((xs[:, t], h, c, f, g, i, o, c_next))
            h, c = h_next, c_next
            hs[:, t] = h
        return hs

    def backward(self, dhs):
        Wx, Wh, b = self.params
        N, T, H = dhs.shape
        dxs = np.empty((N, T, Wx.shape[0]), 'f')
        dWx, dWh, db = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
        dh, dc = 0, 0
        for t in reversed(range(T)):
            x, h_prev, c_prev, f, g, i, o, c_next = self.steps[t]
            dh_t = dhs[:, t] + dh
            tc = np.tanh(c_next)
            ds = dc + dh_t * o * (1 - tc ** 2)
            dA = np.hstack((ds * c_prev * f * (1 - f), ds * i * (1 - g ** 2), ds * g * i * (1 - i),
                            dh_t * tc * o * (1 - o)))
            dWx += x.T @ dA
            dWh += h_prev.T @ dA
            db += dA.sum(axis=0)
            dxs[:, t] = dA @ Wx.T
            dh, dc = dA @ Wh.T, ds * f
        for g_, v in zip(self.grads, (dWx, dWh, db)):
            g_[...] = v
        return dxs


class TimeAffine:
    def __init__(self, W, b):
        self.params, self.grads = [W, b], [np.zeros_like(W), np.zeros_like(b)]

    def forward(self, x):
        N, T, D = x.shape
        self.x = x
        return (x.reshape(N * T, D) @ self.params[0] + self.params[1]).reshape(N, T, -1)

    def backward(self, dout):
        N, T, D = self.x.shape
        d = dout.reshape(N * T, -1)
        self.grads[0][...] = self.x.reshape(N * T, D).T @ d
        self.grads[1][...] = d.sum(axis=0)
        return (d @ self.params[0].T).reshape(N, T, D)


class TimeSoftmaxWithLoss:
    def __init__(self):
        self.params, self.grads = [], []

    def forward(self, xs, ts):
        N, T, V = xs.shape
        y = softmax(xs.reshape(N * T, V))
        t = ts.reshape(N * T)
        self.cache = (y, t, (N, T, V))
        return -np.sum(np.log(y[np.arange(N * T), t])) / (N * T)

    def backward(self, dout=1):
        y, t, shape = self.cache
        dx = y.copy()
        dx[np.arange(len(t)), t] -= 1
        return (dx * dout / len(t)).reshape(shape)
