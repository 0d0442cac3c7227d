"""graphc.datasets: the bundled digits (split, values, packaging) and MNIST from IDX files."""

from __future__ import annotations

import doctest
import gzip
import io
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tomllib

import graphc
from graphc.datasets import MNIST, DatasetNotFoundError, digits, idx
from graphc.transforms import Normalize, ToTensor
from graphc.utils.data import DataLoader

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "graphc" / "datasets" / "data"


# ---------------------------------------------------------------- digits
def test_bundled_file_holds_the_1797_digits_as_documented():
    with np.load(DATA / "digits.npz") as npz:
        images, labels = npz["images"], npz["labels"]
    assert images.dtype == np.uint8 and images.shape == (1797, 8, 8)
    assert labels.dtype == np.int64 and labels.shape == (1797,)
    assert images.max() == 16 and images.min() == 0
    assert sorted(set(labels.tolist())) == list(range(10))
    assert 174 <= np.bincount(labels).min() and np.bincount(labels).max() <= 183
    notice = (DATA / "README.md").read_text()
    assert "UCI" in notice and "CC BY 4.0" in notice and "BSD 3-Clause" in notice


def test_digits_split_is_fixed_stratified_and_disjoint():
    train, test = digits(), digits(train=False)
    assert (len(train), len(test)) == (1442, 355)
    with np.load(DATA / "digits.npz") as npz:
        labels = npz["labels"]
    # every fifth image of each digit, in file order, is a test image
    for d in range(10):
        assert np.sum(test.targets == d) == np.sum(labels == d) // 5
        assert np.sum(train.targets == d) == np.sum(labels == d) - np.sum(labels == d) // 5
    first_eight = np.flatnonzero(labels == 8)
    with np.load(DATA / "digits.npz") as npz:
        np.testing.assert_array_equal(test.data[test.targets == 8][0], npz["images"][first_eight[4]])
        np.testing.assert_array_equal(train.data[train.targets == 8][4], npz["images"][first_eight[5]])
    np.testing.assert_array_equal(digits(train=False).targets, test.targets)


def test_digits_samples_are_scaled_tensors_and_transforms_apply():
    ds = digits(train=False)
    img, label = ds[3]
    assert isinstance(img, graphc.Tensor) and tuple(img.shape) == (1, 8, 8) and img.dtype == graphc.float32
    assert isinstance(label, int) and label == int(ds.targets[3])
    np.testing.assert_allclose(img.numpy()[0], ds.data[3] / 16.0)
    normalized = digits(train=False, transform=Normalize((0.5,), (0.5,)), target_transform=lambda t: t + 10)
    img2, label2 = normalized[3]
    np.testing.assert_allclose(img2.numpy(), img.numpy() * 2 - 1, atol=1e-6)
    assert label2 == label + 10
    x, y = ds.tensors()
    assert tuple(x.shape) == (355, 1, 8, 8) and y.dtype == graphc.int64
    np.testing.assert_array_equal(x[3].numpy(), img.numpy())
    xb, yb = next(iter(DataLoader(ds, batch_size=5)))
    assert tuple(xb.shape) == (5, 1, 8, 8) and yb.tolist() == ds.targets[:5].tolist()
    with pytest.raises(IndexError, match="out of range"):
        ds[355]
    assert "Number of datapoints: 355" in repr(ds) and "Split: Test" in repr(ds)


def test_package_data_globs_cover_every_data_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["graphc.datasets"]
    files = {p.name for p in DATA.iterdir() if p.is_file()}
    covered = {p.name for g in globs for p in (ROOT / "graphc" / "datasets").glob(g)}
    assert files == covered, f"files under graphc/datasets/data not installed: {files - covered}"


@pytest.mark.slow
def test_a_regular_wheel_install_carries_the_digits(tmp_path):
    pytest.importorskip("setuptools", minversion="68")
    src = tmp_path / "src"
    for name in ("graphc", "passes", "runtime"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(src)],
                   check=True, capture_output=True, cwd=tmp_path)
    (wheel,) = wheels.glob("graphc-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "graphc/datasets/data/digits.npz" in names and "graphc/datasets/data/README.md" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    code = "import graphc, graphc.datasets as d; print(graphc.__file__); print(len(d.digits()), len(d.digits(train=False)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    where, sizes = out.stdout.splitlines()
    assert where.startswith(str(site)) and sizes == "1442 355"


# ---------------------------------------------------------------- IDX and MNIST
def _idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file written by hand from the format's definition (not by graphc's reader)."""
    code = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write_mnist(folder: Path, n_train=5, n_test=3, gz=False, size=4):
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, size, size), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        for stem, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            raw = _idx_bytes(array)
            (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw) if gz else raw)
        arrays[prefix] = (images, labels)
    return arrays


def test_read_idx_types_and_byte_order(tmp_path):
    for array in (np.arange(6, dtype=np.uint8).reshape(2, 3), np.array([[1, -2], [300000, 4]], np.int32),
                  np.array([1.5, -0.25], np.float32)):
        path = tmp_path / "a.idx"
        path.write_bytes(_idx_bytes(array))
        got = idx.read_idx(path)
        assert got.shape == array.shape and got.dtype.kind == array.dtype.kind
        np.testing.assert_array_equal(got, array)
    assert idx.read_idx(io.BytesIO(_idx_bytes(np.zeros((0, 2), np.uint8)))).shape == (0, 2)


def test_read_idx_refuses_damaged_files(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"PK\x03\x04 not idx")
    with pytest.raises(graphc.GraphcError, match="is not an IDX file") as e:
        idx.read_idx(bad)
    assert "fix:" in str(e.value)
    short = tmp_path / "short"
    short.write_bytes(_idx_bytes(np.zeros((4, 4), np.uint8))[:-3])
    with pytest.raises(ValueError, match="has 25 bytes; an IDX array of shape \\[4, 4\\] and type uint8 needs 28"):
        idx.read_idx(short)
    broken_gz = tmp_path / "x.gz"
    broken_gz.write_bytes(gzip.compress(_idx_bytes(np.zeros((4, 4), np.uint8)))[:-6])
    with pytest.raises(graphc.GraphcError, match="cannot be read"):
        idx.read_idx(broken_gz)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_train_and_test_files(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz=gz)
    train, test = MNIST(tmp_path), MNIST(str(tmp_path), train=False)
    assert (len(train), len(test)) == (5, 3)
    img, label = test[2]
    np.testing.assert_array_equal(img, arrays["t10k"][0][2])
    assert label == int(arrays["t10k"][1][2]) and isinstance(label, int)
    assert train.targets.dtype == np.int64
    np.testing.assert_array_equal(train.data, arrays["train"][0])


def test_mnist_in_torchvisions_layout_with_to_tensor(tmp_path):
    arrays = _write_mnist(tmp_path / "MNIST" / "raw", gz=True)
    ds = MNIST(tmp_path, transform=ToTensor())
    img, label = ds[1]
    assert tuple(img.shape) == (1, 4, 4) and img.dtype == graphc.float32
    np.testing.assert_allclose(img.numpy()[0], arrays["train"][0][1] / 255.0, rtol=1e-6)
    xb, yb = next(iter(DataLoader(ds, batch_size=5)))
    assert tuple(xb.shape) == (5, 1, 4, 4) and yb.tolist() == arrays["train"][1].tolist()


def test_mnist_names_the_files_it_expected(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        MNIST(tmp_path)
    text = str(e.value)
    assert "train-images-idx3-ubyte" in text and "train-labels-idx1-ubyte" in text
    assert str(tmp_path) in text and "does not download" in text
    assert isinstance(e.value, FileNotFoundError) and isinstance(e.value, graphc.GraphcError)
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetNotFoundError, match="missing t10k-labels-idx1-ubyte$|missing t10k-labels-idx1-ubyte\n"):
        MNIST(tmp_path, train=False)
    with pytest.raises(DatasetNotFoundError, match="never downloads"):
        MNIST(tmp_path, download=True)


def test_mnist_mismatched_files_are_an_error(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="image and label files belong together"):
        MNIST(tmp_path)


def test_module_docstring_examples_run():
    import graphc.datasets.bundled_digits as digits_module
    import graphc.datasets.images as images_module
    import graphc.progress as progress_module

    for module in (digits_module, images_module, idx, progress_module):
        failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert tried > 0 and failed == 0, module.__name__


def test_reachable_as_graphc_datasets_after_import_graphc():
    code = "import graphc; print(len(graphc.datasets.digits(train=False)), graphc.datasets.MNIST.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["355", "MNIST"]
