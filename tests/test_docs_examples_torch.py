"""PyTorch's documentation examples, written once and run with either library.

Each example is a function of the library module (``torch`` or ``graphc``): the code is the
same, only the import differs, and both runs must give the same numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

import graphc

torch = pytest.importorskip("torch")


def _same_weights(dst, src):
    """Copy a torch module's weights into the matching graphc module."""
    dst.load_state_dict({k: graphc.tensor(v.detach().numpy()) for k, v in src.state_dict().items()})


def per_parameter_options(lib, nn):
    """torch.optim docs: two parameter groups, the classifier with its own lr."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.base = nn.Sequential(nn.Linear(6, 8), nn.ReLU())
            self.classifier = nn.Linear(8, 3)

        def forward(self, x):
            return self.classifier(self.base(x))

    model = Net()
    optimizer = lib.optim.SGD([
        {"params": model.base.parameters()},
        {"params": model.classifier.parameters(), "lr": 1e-3},
    ], lr=1e-2, momentum=0.9)
    return model, optimizer


def dataset_loop(lib, nn, model_init=None):
    """A Dataset subclass in a DataLoader training loop with ExponentialLR (torch docs pattern)."""
    data = lib.utils.data

    class Points(data.Dataset):
        def __init__(self, n):
            rng = np.random.default_rng(0)
            self.x = rng.normal(size=(n, 4)).astype(np.float32)
            self.y = (self.x.sum(1) > 0).astype(np.int64)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return lib.tensor(self.x[i]), lib.tensor(self.y[i])

    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 2))
    if model_init is not None:
        model_init(model)
    loader = data.DataLoader(Points(96), batch_size=16, shuffle=False)
    optimizer = lib.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    scheduler = lib.optim.lr_scheduler.ExponentialLR(optimizer, gamma=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _epoch in range(3):
        for x, y in loader:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        scheduler.step()
    return losses, scheduler.get_last_lr(), model


def test_per_parameter_options_example():
    tm, topt = per_parameter_options(torch, torch.nn)
    gm, gopt = per_parameter_options(graphc, graphc.nn)
    _same_weights(gm, tm)
    assert [g["lr"] for g in gopt.param_groups] == [g["lr"] for g in topt.param_groups] == [1e-2, 1e-3]
    rng = np.random.default_rng(1)
    for _ in range(5):
        x = rng.normal(size=(5, 6)).astype(np.float32)
        for lib, model, opt in ((torch, tm, topt), (graphc, gm, gopt)):
            opt.zero_grad()
            model(lib.tensor(x)).pow(2).mean().backward()
            opt.step()
    for (k, a), (_, b) in zip(tm.state_dict().items(), gm.state_dict().items()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-7, err_msg=k)


def test_dataset_dataloader_exponential_lr_example():
    torch.manual_seed(0)
    t_losses, t_lr, t_model = dataset_loop(torch, torch.nn)
    torch.manual_seed(0)
    init_model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    g_losses, g_lr, _ = dataset_loop(graphc, graphc.nn, model_init=lambda m: _same_weights(m, init_model))
    np.testing.assert_allclose(g_losses, t_losses, rtol=1e-5, atol=1e-6)
    assert g_lr == pytest.approx(t_lr)
