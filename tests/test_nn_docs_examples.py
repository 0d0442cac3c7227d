"""PyTorch's own nn documentation examples, with only the import line changed."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import graphc  # noqa: E402
import graphc.nn as nn  # noqa: E402
import graphc.nn.functional as F  # noqa: E402


class Model(nn.Module):  # the nn.Module docs example
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 20, 5)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        return F.relu(self.conv2(x))


class TorchModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 20, 5)
        self.conv2 = torch.nn.Conv2d(20, 20, 5)

    def forward(self, x):
        x = torch.nn.functional.relu(self.conv1(x))
        return torch.nn.functional.relu(self.conv2(x))


def test_module_docs_model_matches_torch():
    g, t = Model(), TorchModel()
    assert repr(g) == repr(t).replace("TorchModel", "Model")
    assert list(g.state_dict()) == list(t.state_dict())
    g.load_state_dict({k: graphc.tensor(v.numpy().copy()) for k, v in t.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 1, 12, 12)).astype(np.float32)
    go, to = g(graphc.tensor(x)), t(torch.tensor(x))
    np.testing.assert_allclose(go.detach().numpy(), to.detach().numpy(), atol=1e-4)
    go.sum().backward()
    to.sum().backward()
    np.testing.assert_allclose(g.conv1.weight.grad.numpy(), t.conv1.weight.grad.numpy(), rtol=1e-3, atol=1e-3)


def test_register_parameter_example():
    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_parameter("scale", nn.Parameter(graphc.tensor(np.ones(3, np.float32))))
            self.register_parameter("unused", None)

        def forward(self, x):
            return x * self.scale

    m = Scaled()
    assert [n for n, _ in m.named_parameters()] == ["scale"]
    assert list(m.state_dict()) == ["scale"]
    m(graphc.tensor(np.arange(3, dtype=np.float32))).sum().backward()
    np.testing.assert_array_equal(m.scale.grad.numpy(), [0, 1, 2])


def test_parameter_requires_grad_false_is_registered_but_not_updated():
    class WithFrozen(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(graphc.tensor(np.ones(2, np.float32)))
            self.frozen = nn.Parameter(graphc.tensor(np.full(2, 3.0, np.float32)), requires_grad=False)

        def forward(self, x):
            return (x * self.w * self.frozen).sum()

    m = WithFrozen()
    assert list(m.state_dict()) == ["w", "frozen"]
    m(graphc.tensor(np.ones(2, np.float32))).backward()
    assert m.w.grad is not None and m.frozen.grad is None


def test_frozen_backbone_only_new_classifier_gets_grads():
    backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                             nn.Flatten())
    model = nn.Sequential(backbone, nn.Linear(8, 10))
    for p in model.parameters():
        p.requires_grad = False
    model[1] = nn.Linear(8, 4)  # replace the classifier: the only trainable part
    x = graphc.tensor(np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(np.float32))
    loss = nn.CrossEntropyLoss()(model(x), graphc.tensor(np.array([0, 3])))
    loss.backward()
    assert all(p.grad is None for p in backbone.parameters())
    assert model[1].weight.grad is not None and model[1].bias.grad is not None
    assert [n for n, p in model.named_parameters() if p.requires_grad] == ["1.weight", "1.bias"]
