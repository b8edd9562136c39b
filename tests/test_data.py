import numpy as np
import pytest
import torch

from mbdl_teach import data


def test_split_is_disjoint_and_valid():
    assert set(data.TRAIN_IMAGES).isdisjoint(data.TEST_IMAGES)
    names = set(data.list_images())
    assert set(data.TRAIN_IMAGES) <= names and set(data.TEST_IMAGES) <= names
    assert len(data.TEST_IMAGES) >= 4 and len(data.TRAIN_IMAGES) >= 8


@pytest.mark.parametrize("name", data.list_images())
def test_every_image_loads_offline(name):
    x = data.load_image(name, size=32)
    assert x.shape == (1, 32, 32) and x.dtype == torch.float32
    assert 0.0 <= float(x.min()) and float(x.max()) <= 1.0
    assert float(x.std()) > 0.01  # not blank


def test_original_size_matches_source():
    import pywt.data
    import skimage.data

    cam = data.load_image("camera")
    assert cam.shape == (1, 512, 512)
    np.testing.assert_allclose(cam[0].numpy(), skimage.data.camera() / 255.0, atol=1e-6)
    asc = data.load_image("ascent")
    np.testing.assert_allclose(asc[0].numpy(), pywt.data.ascent() / 255.0, atol=1e-6)


def test_colour_and_rectangular_sizes():
    rgb = data.load_image("astronaut", size=(24, 40), gray=False)
    assert rgb.shape == (3, 24, 40)
    gray = data.load_image("astronaut", size=(24, 40))
    assert gray.shape == (1, 24, 40)
    assert data.load_image("camera", gray=False).shape == (1, 512, 512)


def test_unknown_image_lists_valid_names():
    with pytest.raises(ValueError, match="valid names are: .*camera"):
        data.load_image("lena")
    with pytest.raises(ValueError, match="size"):
        data.load_image("camera", size=0)


def test_noise_statistics_and_reproducibility():
    x = torch.zeros(1, 1, 256, 256)
    y1 = data.add_gaussian_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    y2 = data.add_gaussian_noise(x, 0.1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y1, y2)
    assert abs(float(y1.std()) - 0.1) < 0.003 and abs(float(y1.mean())) < 0.003
    with pytest.raises(ValueError, match="sigma"):
        data.add_gaussian_noise(x, -1.0)
    with pytest.raises(TypeError, match="torch.Tensor"):
        data.add_gaussian_noise(np.zeros(3), 0.1)


def test_random_patches_come_from_the_images():
    ims = [torch.arange(100.0).reshape(1, 10, 10), 1000 + torch.arange(64.0).reshape(1, 8, 8)]
    p = data.random_patches(ims, n=20, size=4, generator=torch.Generator().manual_seed(1))
    assert p.shape == (20, 1, 4, 4)
    for patch in p:  # consecutive rows/cols of an arange image
        width = 10 if patch[0, 0, 0] < 1000 else 8
        assert torch.all(patch[0, :, 1:] - patch[0, :, :-1] == 1)
        assert torch.all(patch[0, 1:, :] - patch[0, :-1, :] == width)
    with pytest.raises(ValueError, match="larger than"):
        data.random_patches(ims, n=2, size=9)


def test_load_images_batch():
    b = data.load_images(data.TEST_IMAGES, size=16)
    assert b.shape == (len(data.TEST_IMAGES), 1, 16, 16)


def test_simulated_observations_are_close_to_but_not_the_reconstruction_model():
    from mbdl_teach import operators as ops

    cases = [
        (dict(kernel_std=1.6), ops.Blur(ops.gaussian_kernel(1.6)), 1),
        (dict(kernel_std=None, kernel=lambda s: ops.motion_kernel(9 * s, 30)), ops.Blur(ops.motion_kernel(9, 30)), 1),
        (dict(kernel_std=None, kernel=lambda s: ops.gaussian_kernel(2.0 * s), factor=4), ops.Downsample(4), 4),
    ]
    for kw, op, f in cases:
        x, y = data.simulate_blur("camera", 64, sigma=0.0, **kw)
        assert x.shape == (1, 1, 64, 64) and y.shape == (1, 1, 64 // f, 64 // f)
        rel = float((op(x) - y).norm() / y.norm())
        assert 1e-4 < rel < 0.05, rel  # a small mismatch, not zero: no inverse crime
    x1, y1 = data.simulate_blur("camera", 32, 1.0, 0.0, oversample=1)
    op = ops.Blur(ops.gaussian_kernel(1.0))
    assert torch.allclose(op(x1), y1, atol=1e-6)  # oversample=1 is the inverse crime
    with pytest.raises(ValueError, match="factor"):
        data.simulate_blur("camera", 30, 1.0, 0.0, factor=4)
