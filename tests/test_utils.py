import os
import stat

import numpy as np
import pytest
from PIL import Image

from dae.utils import atomic_write, save_png, tile_raster_images


def rows(n, h=28, w=28, seed=0, dtype=np.float64):
    return np.random.RandomState(seed).uniform(-3, 3, size=(n, h * w)).astype(dtype)


# --------------------------------------------------------------------------- shapes
def test_shape_with_spacing():
    out = tile_raster_images(rows(100), (28, 28), (10, 10), tile_spacing=(1, 1))
    assert out.shape == (289, 289)


def test_shape_without_spacing():
    out = tile_raster_images(rows(100), (28, 28), (10, 10))
    assert out.shape == (280, 280)


def test_shape_non_square_and_uneven_spacing():
    out = tile_raster_images(rows(6, 3, 5), (3, 5), (2, 3), tile_spacing=(2, 1))
    assert out.shape == ((3 + 2) * 2 - 2, (5 + 1) * 3 - 1)


def test_spacing_pixels_are_blank():
    out = tile_raster_images(np.ones((4, 4)), (2, 2), (2, 2), tile_spacing=(1, 1),
                             scale_rows_to_unit_interval=False)
    assert out.shape == (5, 5)
    assert (out[2, :] == 0).all() and (out[:, 2] == 0).all()
    tiles = np.delete(np.delete(out, 2, axis=0), 2, axis=1)
    assert (tiles == 255).all()


# --------------------------------------------------------------------------- dtypes
def test_uint8_when_output_pixel_vals():
    out = tile_raster_images(rows(4, 2, 2), (2, 2), (2, 2))
    assert out.dtype == np.uint8


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_of_X_when_not_pixel_vals(dtype):
    out = tile_raster_images(rows(4, 2, 2, dtype=dtype), (2, 2), (2, 2), output_pixel_vals=False)
    assert out.dtype == dtype


def test_integer_X_gives_float_output():
    out = tile_raster_images(np.arange(8).reshape(2, 4), (2, 2), (1, 2), output_pixel_vals=False)
    assert np.issubdtype(out.dtype, np.floating)
    np.testing.assert_allclose(out[:, :2], [[0, 1 / 3], [2 / 3, 1]], atol=1e-6)


# --------------------------------------------------------------------------- scaling
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_tile_scaled_on_its_own(dtype):
    a = np.linspace(5, 7, 16).astype(dtype)       # values in [5, 7]
    b = np.linspace(-100, 300, 16).astype(dtype)  # a very different range
    X = np.stack([a, b])
    out = tile_raster_images(X, (4, 4), (1, 2))
    left, right = out[:, :4], out[:, 4:]
    assert left.min() == 0 and left.max() == 255
    assert right.min() == 0 and right.max() == 255
    # linear ramps give the same picture whatever their range
    np.testing.assert_array_equal(left, right)

    f = tile_raster_images(X, (4, 4), (1, 2), output_pixel_vals=False)
    assert f[:, :4].min() == 0
    assert f[:, :4].max() == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(f[:, :4].ravel(), np.linspace(0, 1, 16), atol=1e-6)


def test_constant_tile_becomes_zero():
    out = tile_raster_images(np.full((1, 4), 3.0), (2, 2), (1, 1), output_pixel_vals=False)
    assert (out == 0).all()


def test_no_scaling_keeps_values():
    X = np.array([[0.0, 0.25, 0.5, 1.0]])
    f = tile_raster_images(X, (2, 2), (1, 1), scale_rows_to_unit_interval=False,
                           output_pixel_vals=False)
    np.testing.assert_array_equal(f, X.reshape(2, 2))
    u = tile_raster_images(X, (2, 2), (1, 1), scale_rows_to_unit_interval=False)
    np.testing.assert_array_equal(u, [[0, 64], [128, 255]])


def test_no_scaling_keeps_values_outside_unit_interval_when_float():
    X = np.array([[5.0, 6.0, 7.0, -1.0]])
    f = tile_raster_images(X, (2, 2), (1, 1), scale_rows_to_unit_interval=False,
                           output_pixel_vals=False)
    np.testing.assert_array_equal(f, X.reshape(2, 2))


def test_X_is_not_modified():
    X = rows(3, 2, 2)
    before = X.copy()
    tile_raster_images(X, (2, 2), (2, 2))
    np.testing.assert_array_equal(X, before)


# --------------------------------------------------------------------------- layout
def test_tiles_filled_row_major_and_reshaped_row_major():
    X = np.arange(3 * 6, dtype=np.float64).reshape(3, 6)
    out = tile_raster_images(X, (2, 3), (2, 2), scale_rows_to_unit_interval=False,
                             output_pixel_vals=False)
    np.testing.assert_array_equal(out[0:2, 0:3], X[0].reshape(2, 3))
    np.testing.assert_array_equal(out[0:2, 3:6], X[1].reshape(2, 3))
    np.testing.assert_array_equal(out[2:4, 0:3], X[2].reshape(2, 3))


def test_fewer_rows_than_tiles_leaves_blank_tiles():
    X = np.ones((3, 4)) + np.arange(4)  # each tile scales to a non-zero picture
    out = tile_raster_images(X, (2, 2), (2, 2))
    assert out[0:2, 0:2].max() == 255 and out[0:2, 2:4].max() == 255
    assert out[2:4, 0:2].max() == 255
    assert (out[2:4, 2:4] == 0).all()


def test_more_rows_than_tiles_draws_the_first():
    X = np.vstack([np.full((1, 4), 0.5), np.full((5, 4), 1.0)])
    out = tile_raster_images(X, (2, 2), (1, 1), scale_rows_to_unit_interval=False,
                             output_pixel_vals=False)
    assert out.shape == (2, 2) and (out == 0.5).all()


# --------------------------------------------------------------------------- RGBA
def test_rgba_with_none_channels_uint8():
    r = np.linspace(5, 7, 4)[None, :]
    out = tile_raster_images((r, None, None, None), (2, 2), (1, 1))
    assert out.shape == (2, 2, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :, 0], tile_raster_images(r, (2, 2), (1, 1)))
    assert (out[:, :, 1] == 0).all() and (out[:, :, 2] == 0).all()
    assert (out[:, :, 3] == 255).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rgba_with_none_channels_float(dtype):
    # the tutorial's version raises AttributeError here (X.dtype on a tuple)
    g = np.linspace(5, 7, 8).reshape(2, 4).astype(dtype)
    out = tile_raster_images((None, g, None, None), (2, 2), (1, 2), tile_spacing=(0, 1),
                             output_pixel_vals=False)
    assert out.shape == (2, 5, 4) and out.dtype == dtype
    assert (out[:, :, 0] == 0).all() and (out[:, :, 2] == 0).all()
    assert (out[:, :, 3] == 1.0).all()
    np.testing.assert_allclose(out[:, :, 1], tile_raster_images(g, (2, 2), (1, 2), (0, 1),
                                                                output_pixel_vals=False))
    assert out[:, :, 1].max() == pytest.approx(1.0, abs=1e-6)


def test_rgba_given_alpha_is_used():
    a = np.array([[0.0, 0.0, 1.0, 1.0]])
    out = tile_raster_images((None, None, None, a), (2, 2), (1, 1),
                             scale_rows_to_unit_interval=False)
    np.testing.assert_array_equal(out[:, :, 3], [[0, 0], [255, 255]])


def test_rgba_all_none():
    out = tile_raster_images((None, None, None, None), (2, 2), (1, 1), output_pixel_vals=False)
    assert out.shape == (2, 2, 4)
    assert (out[:, :, :3] == 0).all() and (out[:, :, 3] == 1.0).all()


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, words", [
    (dict(X=np.zeros(16)), "2-D"),
    (dict(X=np.zeros((2, 4, 4))), "2-D"),
    (dict(X=np.zeros((2, 15))), "16"),
    (dict(X=(np.zeros((2, 16)), None, None)), "4 channels"),
    (dict(X=(np.zeros((2, 16)), None, None, None, None)), "4 channels"),
    (dict(X=(np.zeros((2, 15)), None, None, None)), "X[0]"),
    (dict(X=np.zeros((2, 16)), img_shape=(0, 16)), "img_shape"),
    (dict(X=np.zeros((2, 16)), img_shape=(4, 4, 1)), "img_shape"),
    (dict(X=np.zeros((2, 16)), img_shape=(4.0, 4)), "img_shape"),
    (dict(X=np.zeros((2, 16)), tile_shape=(0, 2)), "tile_shape"),
    (dict(X=np.zeros((2, 16)), tile_shape=(-1, 2)), "tile_shape"),
    (dict(X=np.zeros((2, 16)), tile_spacing=(-1, 0)), "tile_spacing"),
    (dict(X=np.zeros((2, 16)), tile_spacing=3), "tile_spacing"),
])
def test_bad_inputs_raise_value_error(kwargs, words):
    args = dict(img_shape=(4, 4), tile_shape=(2, 2))
    args.update(kwargs)
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        tile_raster_images(**args)


def test_error_message_says_expected_and_got():
    with pytest.raises(ValueError) as info:
        tile_raster_images(np.zeros((2, 15)), (4, 4), (1, 2))
    assert "16" in str(info.value) and "15" in str(info.value)


# --------------------------------------------------------------------------- save_png
@pytest.mark.parametrize("shape, mode", [((5, 7), "L"), ((5, 7, 3), "RGB"), ((5, 7, 4), "RGBA")])
def test_save_png_round_trip(tmp_path, shape, mode):
    array = np.random.RandomState(0).randint(0, 256, size=shape).astype(np.uint8)
    path = save_png(array, str(tmp_path / "sub" / "dir" / "x.png"))
    assert path == tmp_path / "sub" / "dir" / "x.png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.mode == mode
        np.testing.assert_array_equal(np.asarray(image), array)
    assert os.listdir(path.parent) == ["x.png"]


def test_save_png_tiled_filters(tmp_path):
    image = tile_raster_images(rows(100), (28, 28), (10, 10), (1, 1))
    path = save_png(image, tmp_path / "filters.png")
    with Image.open(path) as read:
        assert read.size == (289, 289)
        np.testing.assert_array_equal(np.asarray(read), image)


def test_save_png_float_converted(tmp_path):
    array = np.array([[0.0, 0.5], [1.0, 2.0]])
    path = save_png(array, tmp_path / "f.png")
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), [[0, 128], [255, 255]])


def test_save_png_overwrites(tmp_path):
    path = tmp_path / "x.png"
    save_png(np.zeros((2, 2), np.uint8), path)
    save_png(np.full((3, 3), 9, np.uint8), path)
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image), np.full((3, 3), 9))


@pytest.mark.parametrize("array", [np.zeros(5, np.uint8), np.zeros((2, 2, 2), np.uint8),
                                   np.zeros((2, 2, 5), np.uint8), np.zeros((1, 2, 2, 3), np.uint8),
                                   np.zeros((2, 2), np.int64), np.array([[np.nan, 0.0]])])
def test_save_png_bad_input(tmp_path, array):
    with pytest.raises(ValueError):
        save_png(array, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()
    assert os.listdir(tmp_path) == []


# --------------------------------------------------------------------------- atomic_write
def test_atomic_write_binary_and_text(tmp_path):
    with atomic_write(tmp_path / "b.bin") as f:
        f.write(b"\x00\x01")
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    with atomic_write(str(tmp_path / "t.txt"), "w") as f:
        f.write("héllo\n")
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "héllo\n"
    assert sorted(os.listdir(tmp_path)) == ["b.bin", "t.txt"]


def test_atomic_write_creates_parent(tmp_path):
    with atomic_write(tmp_path / "a" / "b" / "c.txt", "w") as f:
        f.write("x")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "x"


def test_atomic_write_keeps_original_when_body_raises(tmp_path):
    path = tmp_path / "model.npz"
    path.write_bytes(b"original")
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_write(path, "wb") as f:
            f.write(b"half a new fi")
            raise RuntimeError("boom")
    assert path.read_bytes() == b"original"
    assert os.listdir(tmp_path) == ["model.npz"]


def test_atomic_write_leaves_nothing_when_new_file_body_raises(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(tmp_path / "new.txt", "w") as f:
            f.write("partial")
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_atomic_write_not_visible_until_done(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old")
    with atomic_write(path, "w") as f:
        f.write("new")
        f.flush()
        assert path.read_text() == "old"
    assert path.read_text() == "new"


def test_atomic_write_usual_permissions(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    with atomic_write(tmp_path / "p.txt", "w") as f:
        f.write("x")
    assert stat.S_IMODE((tmp_path / "p.txt").stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("mode", ["a", "r", "rb", "ab", "w+a", "wbt", "x"])
def test_atomic_write_rejects_non_write_modes(tmp_path, mode):
    with pytest.raises(ValueError):
        with atomic_write(tmp_path / "x", mode):
            pass
    assert os.listdir(tmp_path) == []
