"""graphc.transforms: ToTensor, Normalize, Compose, Lambda, RandomHorizontalFlip, RandomCrop."""

import numpy as np
import pytest

import graphc
from graphc import transforms as T


def _img(h=4, w=5, c=3):
    return (np.arange(h * w * c) % 256).astype(np.uint8).reshape(h, w, c)


def test_to_tensor_scales_uint8_and_moves_channels_first():
    img = _img()
    t = T.ToTensor()(img)
    assert t.dtype is graphc.float32 and tuple(t.shape) == (3, 4, 5)
    np.testing.assert_array_equal(t.numpy(), img.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    gray = T.ToTensor()(img[:, :, 0])
    assert tuple(gray.shape) == (1, 4, 5)
    floats = T.ToTensor()(np.full((2, 2, 1), 3.5, np.float32))
    assert floats.numpy().max() == 3.5  # non-uint8 images keep their values, as torchvision
    with pytest.raises(TypeError, match="pic should be PIL Image or ndarray"):
        T.ToTensor()(t)


def test_normalize_per_channel_and_inplace():
    t = T.ToTensor()(_img())
    mean, std = (0.1, 0.2, 0.3), (0.5, 0.25, 2.0)
    out = T.Normalize(mean, std)(t)
    expected = (t.numpy() - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)
    assert out is not t
    same = T.Normalize(mean, std, inplace=True)(t)
    assert same is t
    with pytest.raises(ValueError, match="std evaluated to zero"):
        T.Normalize((0.0,), (0.0,))(t)
    with pytest.raises(RuntimeError, match="Input tensor should be a float tensor"):
        T.Normalize((0.0,), (1.0,))(graphc.zeros(1, 2, 2, dtype=graphc.int64))
    with pytest.raises(RuntimeError, match="Expected tensor to be a tensor image"):
        T.Normalize((0.0,), (1.0,))(graphc.zeros(2, 2))


def test_compose_and_lambda():
    pipeline = T.Compose([T.ToTensor(), T.Lambda(lambda x: x * 2)])
    assert pipeline(np.full((1, 1), 255, np.uint8)).item() == 2.0
    assert "ToTensor()" in repr(pipeline)
    with pytest.raises(TypeError, match="Argument lambd should be callable"):
        T.Lambda(3)


def test_random_horizontal_flip_probability_and_seed():
    t = graphc.arange(6, dtype=graphc.float32).reshape(1, 2, 3)
    assert T.RandomHorizontalFlip(p=1.0)(t).tolist() == [[[2.0, 1.0, 0.0], [5.0, 4.0, 3.0]]]
    assert T.RandomHorizontalFlip(p=0.0)(t) is t
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=1.0)(_img()), _img()[:, ::-1])
    flip = T.RandomHorizontalFlip()
    graphc.manual_seed(0)
    first = [flip(t) is t for _ in range(40)]
    graphc.manual_seed(0)
    assert [flip(t) is t for _ in range(40)] == first
    assert 5 < sum(first) < 35


def test_random_crop_padding_and_seed():
    t = graphc.arange(16, dtype=graphc.float32).reshape(1, 4, 4)
    graphc.manual_seed(1)
    crops = [T.RandomCrop(2)(t) for _ in range(20)]
    assert all(tuple(c.shape) == (1, 2, 2) for c in crops)
    for c in crops:  # every crop is a contiguous window of the image
        i, j = divmod(int(c.numpy()[0, 0, 0]), 4)
        np.testing.assert_array_equal(c.numpy(), t.numpy()[:, i:i + 2, j:j + 2])
    graphc.manual_seed(1)
    assert [T.RandomCrop(2)(t).tolist() for _ in range(20)] == [c.tolist() for c in crops]
    padded = T.RandomCrop(6, padding=1, fill=-1)(t)
    assert tuple(padded.shape) == (1, 6, 6) and padded.numpy()[0, 0, 0] == -1
    assert tuple(T.RandomCrop((5, 7), pad_if_needed=True)(t).shape) == (1, 5, 7)
    reflect = T.RandomCrop(6, padding=1, padding_mode="reflect")(t)
    assert reflect.numpy()[0, 0, 0] == t.numpy()[0, 1, 1]
    assert T.RandomCrop(2)(_img()).shape == (2, 2, 3)
    with pytest.raises(ValueError, match="Required crop size"):
        T.RandomCrop(5)(t)
