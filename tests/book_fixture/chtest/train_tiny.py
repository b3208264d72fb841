# A book-style training script: trains a few SGD steps, saves and reloads a pickle.
import sys
sys.path.append('..')
from tiny_model import TinyModel, TimeLSTM, np

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 5
np.random.seed(1984)
V, D, H, N, T = 13, 8, 24, 6, 7
model = TinyModel(V, D, H)
xs = np.random.randint(0, V, (N, T))
ts = np.roll(xs, 1, axis=1)
for step in range(steps):
    loss = model.forward(xs, ts)
    model.backward()
    for p, g in zip(model.params, model.grads):
        p -= 0.5 * g
    print('loss', repr(float(loss)))
model.save_params('tiny.pkl')
again = TinyModel(V, D, H)
again.load_params('tiny.pkl')
print('reloaded', repr(float(again.forward(xs, ts))))
print('layers from', TimeLSTM.__module__)
