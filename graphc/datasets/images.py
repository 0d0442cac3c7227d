"""ImageDataset: labelled grayscale images held as one uint8 array, as torchvision's MNIST.

    >>> import numpy as np
    >>> from graphc.datasets.images import ImageDataset
    >>> ds = ImageDataset(np.zeros((3, 2, 2), np.uint8), np.array([0, 1, 2]))
    >>> img, label = ds[1]
    >>> img.dtype, img.shape, label
    (dtype('uint8'), (2, 2), 1)
"""

from __future__ import annotations

import numpy as np

from graphc.ir.errors import GraphcIndexError, GraphcValueError
from graphc.utils.data import Dataset

__all__ = ["ImageDataset"]


class ImageDataset(Dataset):
    """Samples ``(transform(data[i]), target_transform(targets[i]))``.

    ``data`` is a ``uint8`` array ``[N, H, W]`` and ``targets`` an ``int64`` array ``[N]``, both
    kept as attributes (``.data``, ``.targets``) as torchvision keeps them. Without a
    transform an image is its ``[H, W]`` uint8 array and a label a Python ``int``;
    ``graphc.transforms.ToTensor()`` makes the image a float32 ``[1, H, W]`` tensor in [0, 1].
    """

    def __init__(self, data: np.ndarray, targets: np.ndarray, transform=None, target_transform=None):
        data, targets = np.asarray(data), np.asarray(targets)
        if data.ndim != 3 or targets.shape != data.shape[:1]:
            raise GraphcValueError(f"images of shape {data.shape} and labels of shape {targets.shape} do not match",
                                   fix="give images as [N, H, W] and one label per image")
        self.data = data
        self.targets = targets.astype(np.int64)
        self.transform = transform
        self.target_transform = target_transform

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        if not -len(self) <= index < len(self):
            raise GraphcIndexError(f"index {index} is out of range for a dataset of {len(self)} images")
        img, target = self.image(index), int(self.targets[index])
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def image(self, index: int):
        """The image at ``index`` before ``transform``: its uint8 ``[H, W]`` array."""
        return self.data[index]

    def __repr__(self) -> str:
        lines = [f"Dataset {type(self).__name__}", f"    Number of datapoints: {len(self)}"]
        lines += [f"    {line}" for line in self.extra_repr().splitlines()]
        if self.transform is not None:
            lines.append(f"    Transform: {self.transform!r}")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return ""
