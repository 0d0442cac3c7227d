"""Train a small MLP eagerly on generated data: PyTorch code with only the import changed.

Run: python examples/mlp_eager.py
"""

import numpy as np

import graphc as torch
from graphc import nn
from graphc.utils.data import DataLoader, TensorDataset


def make_data(n=1024, seed=0):
    """Two-moons-like 2-D points in 3 classes, lifted to 16 features."""
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
        self.l1 = nn.Linear(16, 64)
        self.l2 = nn.Linear(64, 3)

    def forward(self, x):
        return self.l2(torch.relu(self.l1(x)))


def main(epochs=8):
    torch.manual_seed(0)
    x, y = make_data()
    loader = DataLoader(TensorDataset(x, y), batch_size=64, shuffle=True)
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for epoch in range(epochs):
        total = 0.0
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        sched.step()
        losses.append(total / len(x))
        print(f"epoch {epoch + 1}: loss {losses[-1]:.4f}  lr {sched.get_last_lr()[0]:.4f}")
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    print(f"training accuracy {accuracy:.1%}")
    return losses, accuracy


if __name__ == "__main__":
    main()
