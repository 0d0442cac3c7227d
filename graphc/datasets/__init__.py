"""graphc.datasets: data sets for examples and tests, read from local files; nothing is downloaded.

- :func:`digits`: the 1,797 handwritten 8x8 digits bundled with graphc (fixed train/test split).
- :class:`MNIST`: MNIST read from its IDX files (gzipped or not) in a folder you provide.
"""

from __future__ import annotations

from .bundled_digits import Digits, digits
from .images import ImageDataset
from .mnist import MNIST, DatasetNotFoundError

__all__ = ["digits", "Digits", "MNIST", "ImageDataset", "DatasetNotFoundError"]
