"""MNIST read from its four IDX files in a local folder (graphc never downloads anything).

    >>> from graphc.datasets import MNIST
    >>> from graphc.transforms import ToTensor
    >>> train = MNIST("data/", train=True, transform=ToTensor())   # doctest: +SKIP
    >>> img, label = train[0]                                       # doctest: +SKIP
    >>> tuple(img.shape), label                                     # doctest: +SKIP
    ((1, 28, 28), 5)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graphc.ir.errors import GraphcError, GraphcValueError

from .idx import read_idx
from .images import ImageDataset

__all__ = ["MNIST", "DatasetNotFoundError"]

FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DatasetNotFoundError(GraphcError, FileNotFoundError):
    """A data set's files are not in the folder given; the message names the files expected."""


def _candidates(root: Path) -> list[Path]:
    """Where the files may lie: ``root`` itself, or torchvision's ``root/MNIST/raw``."""
    return [root, root / "MNIST" / "raw"]


def _find(root: Path, stem: str) -> Path | None:
    for folder in _candidates(root):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


class MNIST(ImageDataset):
    """``torchvision.datasets.MNIST`` without the download: 60,000 training or 10,000 test images.

    ``root`` is a folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each plain or ``.gz``, directly
    or in ``root/MNIST/raw`` (torchvision's layout, so a folder torchvision filled works).
    A sample is ``(transform(image), label)``; the image is a uint8 ``[28, 28]`` array
    (``graphc.transforms.ToTensor()`` makes it a float32 ``[1, 28, 28]`` tensor in [0, 1]).
    """

    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train: bool = True, transform=None, target_transform=None, download: bool = False):
        self.root = Path(root).expanduser()
        if download:
            raise DatasetNotFoundError("graphc never downloads data (download=True)",
                                    fix=f"put MNIST's four IDX files into {self.root} yourself and pass download=False")
        stems = FILES[bool(train)]
        paths = [_find(self.root, stem) for stem in stems]
        if None in paths:
            missing = [stem for stem, p in zip(stems, paths) if p is None]
            where = " or ".join(str(folder) for folder in _candidates(self.root))
            raise DatasetNotFoundError(
                f"MNIST {'training' if train else 'test'} files not found: expected {' and '.join(stems)} "
                f"(each plain or .gz) in {where}; missing {', '.join(missing)}",
                fix="copy MNIST's IDX files into that folder (graphc does not download them), or pass the folder that holds them")
        images, labels = (read_idx(p) for p in paths)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise GraphcValueError(
                f"{paths[0].name} holds an array of shape {list(images.shape)} and {paths[1].name} one of shape "
                f"{list(labels.shape)}: expected [N, H, W] images and N labels",
                fix="check that the image and label files belong together")
        super().__init__(images.astype(np.uint8), labels, transform, target_transform)
        self.train = bool(train)

    def extra_repr(self) -> str:
        return f"Root location: {self.root}\nSplit: {'Train' if self.train else 'Test'}"
