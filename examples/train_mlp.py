"""Train a small MLP on generated data: PyTorch code with only the import changed.

The same training loop runs twice: eagerly (PyTorch semantics, op by op) and with the whole
step compiled by ``graphc.compile`` into one native call. Both start from the same weights and
see the same batches, so their losses agree; the compiled one is faster.

Run: python examples/train_mlp.py
"""

import time

import numpy as np

import graphc as torch
from graphc import nn
from graphc.utils.data import DataLoader, TensorDataset


def make_data(n=2048, seed=0):
    """Three noisy spiral arms in 2-D, lifted to 16 features."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n)
    angle = rng.uniform(0, np.pi, size=n) + labels * 2 * np.pi / 3
    points = np.stack([np.cos(angle), np.sin(angle)], 1) * (1 + 0.3 * labels[:, None])
    points += rng.normal(scale=0.1, size=points.shape)
    lift = rng.normal(size=(2, 16))
    return torch.tensor(np.tanh(points @ lift), dtype=torch.float32), torch.tensor(labels)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(16, 128)
        self.l2 = nn.Linear(128, 3)

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x)))


def train(model, x, y, epochs, compiled):
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    step = torch.compile(step) if compiled else step
    losses, seconds, steps = [], 0.0, 0
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            start = time.perf_counter()
            loss = step(xb, yb)
            seconds += time.perf_counter() - start if (epoch or steps > 2) else 0.0  # skip compilation
            steps += 1
            total += loss.item() * len(xb)
        sched.step()
        losses.append(total / len(x))
    return losses, seconds / max(steps - 3, 1)


def main(epochs=6):
    torch.manual_seed(0)
    x, y = make_data()
    eager_model, compiled_model = MLP(), MLP()
    compiled_model.load_state_dict(eager_model.state_dict())
    eager_losses, eager_s = train(eager_model, x, y, epochs, compiled=False)
    compiled_losses, compiled_s = train(compiled_model, x, y, epochs, compiled=True)
    for epoch, (a, b) in enumerate(zip(eager_losses, compiled_losses), 1):
        print(f"epoch {epoch}: loss eager {a:.4f}  compiled {b:.4f}")
    with torch.no_grad():
        accuracy = (compiled_model(x).argmax(1) == y).float().mean().item()
    print(f"training accuracy {accuracy:.1%}")
    print(f"time per step: eager {eager_s * 1e3:.3f} ms, compiled {compiled_s * 1e3:.3f} ms "
          f"({eager_s / compiled_s:.1f}x faster)")
    return eager_losses, compiled_losses, accuracy


if __name__ == "__main__":
    main()
