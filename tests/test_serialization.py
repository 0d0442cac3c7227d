"""graphc.save / graphc.load: safetensors files, structures, atomic writes, corrupt files."""

import collections
import os

import numpy as np
import pytest

import graphc
import graphc.optim  # noqa: F401
from graphc.serialization import load, save


def _sgd_state():
    w, b = graphc.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True), graphc.tensor([0.5, -0.5], requires_grad=True)
    opt = graphc.optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.01}], lr=0.1, amsgrad=True)
    for _ in range(2):
        opt.zero_grad()
        ((w * w).sum() + (b * w).sum()).backward()
        opt.step()
    return (w, b), opt


def _same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, graphc.Tensor):
        assert a.dtype is b.dtype and a.tolist() == b.tolist()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


def test_module_state_dict_round_trip(tmp_path):
    sd = collections.OrderedDict([("fc.weight", graphc.ones(2, 3)), ("fc.bias", graphc.zeros(2)),
                                  ("bn.num_batches_tracked", graphc.tensor(7)), ("mask", graphc.tensor([True, False])),
                                  ("idx", graphc.tensor([1, 2], dtype=graphc.int32)),
                                  ("d", graphc.tensor([1.5], dtype=graphc.float64))])
    path = tmp_path / "model.safetensors"
    save(sd, path)
    _same(load(path), sd)


def test_optimizer_state_dict_and_checkpoint_round_trip(tmp_path):
    (w, b), opt = _sgd_state()
    ckpt = {"model": {"w": w.detach(), "b": b.detach()}, "optimizer": opt.state_dict(), "epoch": 3,
            "history": [0.5, float("inf")], "note": None}
    path = str(tmp_path / "ckpt.safetensors")
    graphc.save(ckpt, path) if hasattr(graphc, "save") else save(ckpt, path)
    back = load(path)
    _same(back, ckpt)
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    opt2 = graphc.optim.Adam([{"params": [w]}, {"params": [b]}])
    opt2.load_state_dict(back["optimizer"])
    assert opt2.param_groups[1]["lr"] == 0.01 and opt2.state[w]["step"].item() == 2.0


def test_files_are_read_by_the_safetensors_package(tmp_path):
    st = pytest.importorskip("safetensors.numpy")
    (w, b), opt = _sgd_state()
    path = str(tmp_path / "c.safetensors")
    save({"model": {"w": w.detach()}, "optimizer": opt.state_dict()}, path)
    arrays = st.load_file(path)
    np.testing.assert_array_equal(arrays["model.w"], w.detach().numpy())
    np.testing.assert_array_equal(arrays["optimizer.state.0.exp_avg"], opt.state[w]["exp_avg"].numpy())
    assert arrays["optimizer.state.1.step"].shape == () and arrays["optimizer.state.1.step"].dtype == np.float32


def test_files_from_safetensors_torch_load(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    path = str(tmp_path / "t.safetensors")
    st.save_file({"fc.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "fc.bias": torch.ones(2),
                  "steps": torch.tensor([3], dtype=torch.int64), "h": torch.ones(2, dtype=torch.float16)}, path)
    sd = load(path)
    assert set(sd) == {"fc.weight", "fc.bias", "steps", "h"}
    assert sd["fc.weight"].tolist() == [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]] and sd["steps"].dtype is graphc.int64
    assert sd["h"].dtype is graphc.float32


def test_corrupt_and_truncated_files_raise_clear_errors(tmp_path):
    path = tmp_path / "x.safetensors"
    save({"w": graphc.ones(100)}, path)
    data = path.read_bytes()
    for bad, what in ((data[:5], "fewer than the 8-byte"), (data[:-10], "truncated"),
                      (data[:8] + b"{not json" + data[17:], "not valid JSON"),
                      ((10**9).to_bytes(8, "little") + data[8:], "the header claims")):
        path.write_bytes(bad)
        with pytest.raises(graphc.GraphcError, match=what):
            load(path)


def test_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    save({"w": graphc.ones(3)}, path)
    before = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        save({"w": graphc.zeros(3)}, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temporary file left behind


def test_unsupported_objects_are_refused():
    with pytest.raises(TypeError, match="cannot store an object of type object"):
        save({"x": object()}, "/nonexistent/never-written.safetensors")
