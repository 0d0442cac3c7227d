"""An MLP on the bundled handwritten digits: a PyTorch training loop with only the import changed.

The data come from ``graphc.datasets.digits`` (8x8 images bundled with graphc, fixed
train/test split), through a ``DataLoader`` exactly as a torchvision data set would. The whole
training step (forward, backward, SGD update) is compiled into one native call.

Run: python examples/mlp_digits.py
"""

import time

import graphc as torch
from graphc import nn
from graphc.datasets import digits
from graphc.utils.data import DataLoader


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.net(x)


def evaluate(model, dataset):
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in DataLoader(dataset, batch_size=256):
            correct += (model(x).argmax(1) == y).sum().item()
    model.train()
    return correct / len(dataset)


def main(epochs=8, seed=0):
    torch.manual_seed(seed)
    train_set, test_set = digits(train=True), digits(train=False)
    # drop_last keeps every batch the same shape, so the step compiles once
    loader = DataLoader(train_set, batch_size=32, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    model = MLP()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.8)
    loss_fn = nn.CrossEntropyLoss()

    @torch.compile
    def train_step(x, y):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        return loss

    start = time.perf_counter()
    for epoch in range(epochs):
        total = 0.0
        for x, y in loader:
            total += train_step(x, y).item()
        sched.step()
        print(f"epoch {epoch + 1}: loss {total / len(loader):.4f}  lr {sched.get_last_lr()[0]:.4f}")
    accuracy = evaluate(model, test_set)
    print(f"test accuracy {accuracy:.1%} after {time.perf_counter() - start:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
