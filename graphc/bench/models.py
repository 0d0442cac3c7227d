"""The benchmark's models, data and starting weights, written once for every library.

graphc and PyTorch share one model definition (graphc's API is PyTorch's), built with whichever
library is passed as ``lib``. Every contender starts from the same weights: seeded numpy arrays
in the models' ``state_dict`` order and layout (PyTorch's default initialisation scheme, so the
losses are typical), loaded into each library. JAX gets a functional twin in ``jax_models.py``.
"""

from __future__ import annotations

import numpy as np

LR, MOMENTUM = 0.01, 0.9
MLP_SIZES = (784, 256, 128, 10)


def mlp(lib):
    """MLP 784-256-128-10 with ReLU, as ``lib.nn.Sequential`` (``lib`` is graphc or torch)."""
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))


def lenet(lib):
    """LeNet-5: conv 1->6 5x5 pad 2, maxpool 2, conv 6->16 5x5, maxpool 2, 400-120-84-10, ReLU."""
    nn = lib.nn
    F = nn.functional

    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
            self.conv2 = nn.Conv2d(6, 16, 5)
            self.fc1 = nn.Linear(16 * 5 * 5, 120)
            self.fc2 = nn.Linear(120, 84)
            self.fc3 = nn.Linear(84, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            x = F.max_pool2d(F.relu(self.conv2(x)), 2)
            x = x.flatten(1)
            return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))

    return LeNet()


MODELS = {"mlp": mlp, "lenet": lenet}

# name -> shape, in state_dict order, for the weights every contender starts from
WEIGHT_SHAPES = {
    "mlp": [("0.weight", (256, 784)), ("0.bias", (256,)), ("2.weight", (128, 256)), ("2.bias", (128,)),
            ("4.weight", (10, 128)), ("4.bias", (10,))],
    "lenet": [("conv1.weight", (6, 1, 5, 5)), ("conv1.bias", (6,)), ("conv2.weight", (16, 6, 5, 5)),
              ("conv2.bias", (16,)), ("fc1.weight", (120, 400)), ("fc1.bias", (120,)),
              ("fc2.weight", (84, 120)), ("fc2.bias", (84,)), ("fc3.weight", (10, 84)), ("fc3.bias", (10,))],
}


def initial_weights(kind: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Seeded float32 weights: uniform in +-1/sqrt(fan_in) of each layer, as PyTorch initialises."""
    rng = np.random.default_rng(seed)
    out, fan_in = {}, 1
    for name, shape in WEIGHT_SHAPES[kind]:
        if name.endswith("weight"):
            fan_in = int(np.prod(shape[1:]))
        bound = 1.0 / np.sqrt(fan_in)
        out[name] = rng.uniform(-bound, bound, size=shape).astype(np.float32)
    return out


def build_model(lib, kind: str, seed: int = 0):
    """A ``lib`` model of ``kind`` holding the common starting weights."""
    model = MODELS[kind](lib)
    model.load_state_dict({k: lib.tensor(v.copy()) for k, v in initial_weights(kind, seed).items()})
    return model


def input_shape(kind: str, batch: int) -> tuple:
    return (batch, 784) if kind == "mlp" else (batch, 1, 28, 28)


def make_batches(kind: str, batch: int, count: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``count`` batches of standard-normal inputs and random labels (float32, int64)."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(input_shape(kind, batch)).astype(np.float32),
             rng.integers(0, 10, size=batch).astype(np.int64)) for _ in range(count)]


def train_step(lib, model):
    """The PyTorch training step (cross-entropy, SGD momentum 0.9) over ``model``, in ``lib``."""
    opt = lib.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    loss_fn = lib.nn.CrossEntropyLoss()

    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return train_step


def train_flops(kind: str, batch: int) -> float:
    """Multiply-add FLOPs of one train step: the forward, the weight gradients, and the input
    gradients of every layer but the first (the data needs none). Elementwise work is not counted."""
    if kind == "mlp":
        layers = [2.0 * batch * i * o for i, o in zip(MLP_SIZES, MLP_SIZES[1:])]
    else:
        layers = [2.0 * batch * 6 * 28 * 28 * 25, 2.0 * batch * 16 * 10 * 10 * 6 * 25,
                  2.0 * batch * 400 * 120, 2.0 * batch * 120 * 84, 2.0 * batch * 84 * 10]
    return 3 * sum(layers) - layers[0]


def forward_flops(batch: int) -> float:
    """FLOPs of the MLP's forward."""
    return sum(2.0 * batch * i * o for i, o in zip(MLP_SIZES, MLP_SIZES[1:]))
