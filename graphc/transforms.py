"""Image transforms for data pipelines, as the common ``torchvision.transforms``.

Tensors are images of shape ``(..., C, H, W)``; numpy arrays (before ``ToTensor``) are
``(H, W, C)`` or ``(H, W)`` as images are stored. Random transforms draw from graphc's default
generator, so ``graphc.manual_seed`` makes a pipeline reproducible:

    >>> import numpy as np, graphc
    >>> from graphc import transforms as T
    >>> pipeline = T.Compose([T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    >>> pipeline(np.full((2, 2), 255, dtype=np.uint8))
    tensor([[[1., 1.],
             [1., 1.]]])
"""

from __future__ import annotations

import numbers

import numpy as np

from graphc.ir.errors import DTypeError, GraphcTypeError, GraphcValueError, ShapeError
from graphc.tensor import Tensor

__all__ = ["Compose", "ToTensor", "Normalize", "Lambda", "RandomHorizontalFlip", "RandomCrop"]


class Compose:
    """Apply transforms one after the other."""

    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{type(self).__name__}({body}\n)"


class ToTensor:
    """An ``(H, W, C)`` or ``(H, W)`` image array to a ``(C, H, W)`` tensor.

    uint8 images become float32 in ``[0, 1]`` (divided by 255); other dtypes keep their values
    (as torchvision). Anything ``numpy.asarray`` accepts (a PIL image) works too.
    """

    def __call__(self, pic):
        import graphc

        if isinstance(pic, Tensor):
            raise GraphcTypeError("pic should be PIL Image or ndarray. Got graphc.Tensor",
                                  fix="the input is already a tensor; drop ToTensor from the pipeline")
        arr = np.asarray(pic)
        if arr.ndim not in (2, 3):
            raise ShapeError(f"pic should be 2/3 dimensional. Got {arr.ndim} dimensions.",
                             fix="pass an (H, W) or (H, W, C) image")
        if arr.ndim == 2:
            arr = arr[:, :, None]
        chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
        if chw.dtype == np.uint8:
            return graphc.as_tensor(chw.astype(np.float32)) / 255
        if chw.dtype == np.bool_:
            return graphc.as_tensor(chw)
        return graphc.as_tensor(chw)

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """``(x - mean[c]) / std[c]`` per channel of a float ``(..., C, H, W)`` tensor."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean = mean
        self.std = std
        self.inplace = inplace

    def __call__(self, tensor):
        import graphc

        if not isinstance(tensor, Tensor):
            raise GraphcTypeError(f"img should be Tensor Image. Got {type(tensor).__name__}", fix="apply ToTensor() first")
        if not tensor.is_floating_point():
            raise DTypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.", fix="apply ToTensor() or .float() first")
        if tensor.ndim < 3:
            raise ShapeError("Expected tensor to be a tensor image of size (..., C, H, W). Got tensor.size() = "
                             f"{tuple(tensor.shape)}.", fix="add a channel dimension with .unsqueeze(0)")
        mean = graphc.as_tensor(np.asarray(self.mean, dtype=tensor.dtype.np).reshape(-1, 1, 1))
        std_values = np.asarray(self.std, dtype=tensor.dtype.np)
        if (std_values == 0).any():
            raise GraphcValueError(f"std evaluated to zero after conversion to {tensor.dtype}, leading to division by zero.",
                                   fix="use non-zero standard deviations")
        std = graphc.as_tensor(std_values.reshape(-1, 1, 1))
        if not self.inplace:
            tensor = tensor.clone()
        return tensor.sub_(mean).div_(std)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Lambda:
    """Apply a user function as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise GraphcTypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"


def _rand_below(n: int) -> int:
    import graphc

    return int(graphc.randint(0, n, (1,)).item())


class RandomHorizontalFlip:
    """Flip the image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5):
        self.p = p

    def __call__(self, img):
        import graphc

        if float(graphc.rand(1).item()) < self.p:
            if isinstance(img, Tensor):
                return img.flip(-1)
            return np.ascontiguousarray(np.asarray(img)[:, ::-1])
        return img

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


def _pad_widths(padding) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) from an int, a 2-sequence (lr, tb) or a 4-sequence."""
    if isinstance(padding, numbers.Number):
        p = int(padding)
        return p, p, p, p
    padding = list(padding)
    if len(padding) == 1:
        return (int(padding[0]),) * 4
    if len(padding) == 2:
        return int(padding[0]), int(padding[1]), int(padding[0]), int(padding[1])
    if len(padding) == 4:
        return tuple(int(p) for p in padding)
    raise GraphcValueError(f"Padding must be an int or a 1, 2, or 4 element tuple, not a {len(padding)} element tuple")


class RandomCrop:
    """Crop a random ``size`` window, after optional ``padding`` (constant ``fill``, edge, reflect, symmetric)."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0, padding_mode: str = "constant"):
        if isinstance(size, numbers.Number):
            size = (int(size), int(size))
        elif len(size) == 1:
            size = (int(size[0]), int(size[0]))
        elif len(size) != 2:
            raise GraphcValueError("Please provide only two dimensions (h, w) for size.")
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise GraphcValueError("Padding mode should be either constant, edge, reflect or symmetric")
        self.size = tuple(size)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        self.padding_mode = padding_mode

    def _pad(self, arr: np.ndarray, is_tensor: bool, widths) -> np.ndarray:
        left, top, right, bottom = widths
        hw = [(top, bottom), (left, right)]
        pads = [(0, 0)] * (arr.ndim - 2) + hw if is_tensor else hw + [(0, 0)] * (arr.ndim - 2)
        if self.padding_mode == "constant":
            return np.pad(arr, pads, mode="constant", constant_values=self.fill)
        return np.pad(arr, pads, mode=self.padding_mode)

    def __call__(self, img):
        import graphc

        is_tensor = isinstance(img, Tensor)
        arr = img.detach().numpy() if is_tensor else np.asarray(img)
        h_axis = arr.ndim - 2 if is_tensor else 0
        if self.padding is not None:
            arr = self._pad(arr, is_tensor, _pad_widths(self.padding))
        th, tw = self.size
        if self.pad_if_needed and arr.shape[h_axis + 1] < tw:
            arr = self._pad(arr, is_tensor, (tw - arr.shape[h_axis + 1], 0, tw - arr.shape[h_axis + 1], 0))
        if self.pad_if_needed and arr.shape[h_axis] < th:
            arr = self._pad(arr, is_tensor, (0, th - arr.shape[h_axis], 0, th - arr.shape[h_axis]))
        h, w = arr.shape[h_axis], arr.shape[h_axis + 1]
        if h < th or w < tw:
            raise GraphcValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}",
                                   fix="pass padding= or pad_if_needed=True, or a smaller size")
        i = 0 if h == th else _rand_below(h - th + 1)
        j = 0 if w == tw else _rand_below(w - tw + 1)
        if is_tensor:
            return graphc.as_tensor(np.ascontiguousarray(arr[..., i:i + th, j:j + tw]))
        return np.ascontiguousarray(arr[i:i + th, j:j + tw])

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"
