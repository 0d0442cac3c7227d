"""LeNet-5 (LeCun et al., 1998) on the bundled digits, scaled up to LeNet's 32x32 input.

The 8x8 digits are enlarged 4x by repeating each pixel (nearest neighbour), once, as numpy
arrays; the network is the classic one: two 5x5 convolutions with 2x2 pooling, then three
fully connected layers. The training step is compiled; evaluation runs eagerly.

Run: python examples/lenet_digits.py
"""

import time

import numpy as np

import graphc as torch
import graphc.nn.functional as F
from graphc import nn
from graphc.datasets import digits
from graphc.utils.data import DataLoader, TensorDataset


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)           # 32x32 -> 28x28
        self.conv2 = nn.Conv2d(6, 16, 5)          # 14x14 -> 10x10
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def enlarged(split_is_train):
    """The split as tensors, each 8x8 image repeated into 32x32."""
    x, y = digits(train=split_is_train).tensors()
    big = np.kron(x.numpy(), np.ones((1, 1, 4, 4), np.float32))
    return torch.from_numpy(big), y


def main(epochs=6, seed=0):
    torch.manual_seed(seed)
    x, y = enlarged(True)
    x_test, y_test = enlarged(False)
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, drop_last=True,
                        generator=torch.Generator().manual_seed(seed))
    model = LeNet5()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
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
        for xb, yb in loader:
            total += train_step(xb, yb).item()
        sched.step()
        print(f"epoch {epoch + 1}: loss {total / len(loader):.4f}")
    model.eval()
    with torch.no_grad():
        accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
    print(f"test accuracy {accuracy:.1%} after {time.perf_counter() - start:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
