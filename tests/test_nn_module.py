"""nn.Module, Parameter and the containers (no PyTorch needed)."""

from collections import OrderedDict

import numpy as np
import pytest

import graphc
from graphc import nn
from graphc.ir.errors import DeviceError, GraphcError, GraphcTypeError


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.bn = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(graphc.tensor(np.ones(4, np.float32)))
        self.plain = graphc.tensor(np.zeros(2, np.float32))  # a plain tensor: not a parameter
        self.register_buffer("steps", graphc.tensor(np.zeros(1, np.float32)))
        self.register_buffer("cache", graphc.tensor(np.zeros(1, np.float32)), persistent=False)


def test_registration_and_names():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["scale", "fc.weight", "fc.bias", "bn.weight", "bn.bias"]
    assert [n for n, _ in net.named_buffers()] == ["steps", "cache", "bn.running_mean", "bn.running_var",
                                                   "bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["fc", "bn"]
    assert [n for n, _ in net.named_modules()] == ["", "fc", "bn"]
    assert [n for n, _ in net.named_parameters(prefix="m", recurse=False)] == ["m.scale"]
    assert "plain" not in dict(net.named_parameters())


def test_state_dict_keys_shares_memory_and_skips_non_persistent():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["scale", "steps", "fc.weight", "fc.bias", "bn.weight", "bn.bias", "bn.running_mean",
                        "bn.running_var", "bn.num_batches_tracked"]
    assert isinstance(sd, OrderedDict)
    assert not sd["fc.weight"].requires_grad
    net.fc.weight._data[0, 0] = 42.0
    assert sd["fc.weight"].numpy()[0, 0] == 42.0


def test_load_state_dict_roundtrip_in_place():
    a, b = Net(), Net()
    w = b.fc.weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b.fc.weight is w
    np.testing.assert_array_equal(b.fc.weight.detach().numpy(), a.fc.weight.detach().numpy())


def test_load_state_dict_errors_like_pytorch():
    net = Net()
    sd = net.state_dict()
    del sd["fc.bias"]
    sd["extra"] = graphc.tensor(np.zeros(1, np.float32))
    sd["scale"] = graphc.tensor(np.zeros(5, np.float32))
    with pytest.raises(RuntimeError) as err:
        net.load_state_dict(sd)
    text = str(err.value)
    assert isinstance(err.value, GraphcError)
    assert 'Error(s) in loading state_dict for Net:' in text
    assert 'Missing key(s) in state_dict: "fc.bias".' in text
    assert 'Unexpected key(s) in state_dict: "extra".' in text
    assert ("size mismatch for scale: copying a param with shape torch.Size([5]) from checkpoint, the shape in "
            "current model is torch.Size([4]).") in text
    del sd["scale"]
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["scale", "fc.bias"] and unexpected == ["extra"]


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(model.parameters())) == 2
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_setattr_rules():
    m = nn.Module()
    with pytest.raises(TypeError):
        m.register_parameter("w", graphc.tensor(np.ones(2, np.float32)))
    m.w = nn.Parameter(graphc.tensor(np.ones(2, np.float32)))
    with pytest.raises(TypeError, match="cannot assign"):
        m.w = graphc.tensor(np.ones(2, np.float32))
    m.w = None
    assert list(m.parameters()) == []
    del m.w
    assert not hasattr(m, "w")
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        m.nope  # noqa: B018


def test_parameter_defaults_and_repr():
    p = nn.Parameter(graphc.tensor(np.array([1.0, 2.0], np.float32)))
    assert p.requires_grad and p.is_leaf
    assert repr(p).startswith("Parameter containing:\ntensor([1., 2.]")
    frozen = nn.Parameter(graphc.tensor(np.ones(1, np.float32)), requires_grad=False)
    m = nn.Module()
    m.frozen = frozen
    assert list(m.parameters()) == [frozen] and not frozen.requires_grad


def test_train_eval_apply_requires_grad_zero_grad():
    net = Net()
    assert net.training and net.bn.training
    net.eval()
    assert not net.bn.training
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "BatchNorm1d", "Net"]
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    net.requires_grad_(True)
    out = net.fc(graphc.tensor(np.ones((2, 3), np.float32))).sum()
    out.backward()
    assert net.fc.weight.grad is not None
    net.zero_grad(set_to_none=False)
    assert np.all(net.fc.weight.grad.numpy() == 0)
    net.zero_grad()
    assert net.fc.weight.grad is None


def test_hooks_run_and_remove():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: calls.append("pre"))
    post = lin.register_forward_hook(lambda m, args, out: out * 0)
    out = lin(graphc.tensor(np.ones((1, 2), np.float32)))
    assert calls == ["pre"] and np.all(out.detach().numpy() == 0)
    pre.remove()
    post.remove()
    out = lin(graphc.tensor(np.ones((1, 2), np.float32)))
    assert calls == ["pre"] and np.any(out.detach().numpy() != 0)


def test_to_dtype_device_and_half():
    net = Net()
    w = net.fc.weight
    assert net.to(graphc.float64) is net
    assert net.fc.weight is w and w.dtype == graphc.float64
    assert net.bn.num_batches_tracked.dtype == graphc.int64  # integer buffers keep their dtype
    assert net.to("cpu") is net and net.cpu() is net
    with pytest.raises(DeviceError):
        net.to("cuda")
    with pytest.raises(DeviceError):
        net.cuda()
    with pytest.raises(GraphcTypeError, match="float16"):
        net.half()


def test_sequential_indexing_and_mutation():
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(s[-1], nn.Linear) and len(s) == 3
    head = s[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2
    s.append(nn.Sigmoid())
    s.insert(0, nn.Identity())
    s.extend([nn.Identity()])
    assert [type(m).__name__ for m in s] == ["Identity", "Linear", "ReLU", "Linear", "Sigmoid", "Identity"]
    del s[0]
    assert list(s._modules) == ["0", "1", "2", "3", "4"]
    named = nn.Sequential(OrderedDict([("a", nn.ReLU()), ("b", nn.Tanh())]))
    assert list(named._modules) == ["a", "b"]
    with pytest.raises(IndexError):
        s[10]


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    ml.append(nn.ReLU())
    assert len(ml) == 4 and len(list(ml.parameters())) == 6
    assert "(0-2): 3 x Linear(in_features=2, out_features=2, bias=True)" in repr(ml)
    md = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    assert list(md.keys()) == ["a", "b"] and "a" in md
    assert [n for n, _ in md.named_parameters()] == ["a.weight", "a.bias"]


def test_module_without_init_call_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(GraphcError, match="before Module.__init__"):
        Bad()
