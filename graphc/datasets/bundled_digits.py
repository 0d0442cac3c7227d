"""The handwritten digits bundled with graphc: 1,797 images of 8x8 pixels, labels 0..9.

    >>> from graphc.datasets import digits
    >>> train, test = digits(), digits(train=False)
    >>> len(train), len(test)
    (1442, 355)
    >>> img, label = train[0]
    >>> tuple(img.shape), img.dtype, label
    ((1, 8, 8), graphc.float32, 0)

The images are scikit-learn's copy of the test part of the UCI "Optical Recognition of
Handwritten Digits" data set (see ``graphc/datasets/data/README.md`` for origin and
license). Each pixel counts the ink in a 4x4 block of a 32x32 bitmap, so it is an integer
0..16; samples scale it to [0, 1].

The split is fixed and stratified: going through the images in the order scikit-learn ships
them, every fifth image of each digit (its 5th, 10th, 15th, ...) is in the test set, 355
images; the other 1,442 are the training set. Each digit is about a tenth of either half.
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from .images import ImageDataset

__all__ = ["Digits", "digits"]

TEST_EVERY = 5
PIXEL_MAX = 16


def _load_all() -> tuple[np.ndarray, np.ndarray]:
    with resources.files("graphc.datasets").joinpath("data/digits.npz").open("rb") as f:
        with np.load(f) as npz:
            return npz["images"], npz["labels"]


def _rank_within_class(labels: np.ndarray) -> np.ndarray:
    """For each image, how many images of the same digit come before it (0 for the first)."""
    rank = np.empty(len(labels), np.int64)
    for digit in np.unique(labels):
        where = np.flatnonzero(labels == digit)
        rank[where] = np.arange(len(where))
    return rank


class Digits(ImageDataset):
    """One half of the bundled digits; ``digits(train)`` builds it.

    A sample is ``(image, label)``: a float32 tensor ``[1, 8, 8]`` with pixel / 16 in [0, 1]
    (then ``transform``, when given) and an ``int``. ``.data`` holds the raw uint8 pixels
    (0..16) and ``.targets`` the labels, as torchvision's datasets do.
    """

    def __init__(self, train: bool = True, transform=None, target_transform=None):
        images, labels = _load_all()
        is_test = _rank_within_class(labels) % TEST_EVERY == TEST_EVERY - 1
        keep = ~is_test if train else is_test
        super().__init__(images[keep], labels[keep], transform, target_transform)
        self.train = train

    def image(self, index: int):
        import graphc

        return graphc.tensor(self.data[index][None].astype(np.float32) / PIXEL_MAX)

    def tensors(self):
        """The whole split at once: images ``[N, 1, 8, 8]`` float32 in [0, 1] and labels ``[N]`` int64.

        No transform is applied; use it to feed a ``TensorDataset`` (fast) instead of sample by sample.
        """
        import graphc

        images = self.data[:, None].astype(np.float32) / PIXEL_MAX
        return graphc.tensor(images), graphc.tensor(self.targets)

    def extra_repr(self) -> str:
        return f"Split: {'Train' if self.train else 'Test'}"


def digits(train: bool = True, transform=None, target_transform=None) -> Digits:
    """The training (1,442 images) or test (355 images) half of the bundled digits."""
    return Digits(train, transform, target_transform)
