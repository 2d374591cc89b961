"""dae.customdata: the user's own images (.npy, .npz, PNG folders), scaled and checked; their sizes
read from the headers before anything is decoded."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from dae import memory
from dae.customdata import check_fits, holdout, load_images
from dae.data import DataError


def _fake_npy(shape, descr="|u1"):
    """An .npy header claiming ``shape``, and no data."""
    f = io.BytesIO()
    np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": shape})
    return f.getvalue()


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)
    return str(excinfo.value)


def test_npy_header_claiming_terabytes_is_one_error(tmp_path):
    (tmp_path / "big.npy").write_bytes(_fake_npy((10**7, 1000, 1000)))
    with pytest.raises(DataError, match=r"big.npy's images: 90 TB needed, .* memory "
                                        "available; use fewer or smaller images") as excinfo:
        load_images(tmp_path / "big.npy")
    _one_line(excinfo)


def test_npz_header_claiming_terabytes_is_one_error(tmp_path):
    with zipfile.ZipFile(tmp_path / "big.npz", "w") as z:
        z.writestr("x.npy", _fake_npy((10**7, 1000, 1000)))
        z.writestr("y.npy", _fake_npy((10**7,), "<i8"))
    with pytest.raises(DataError, match="big.npz's images: .* needed"):
        load_images(tmp_path / "big.npz")


def test_arrays_that_fit_still_load(tmp_path):
    np.savez(tmp_path / "ok.npz", x=np.zeros((3, 4, 4), np.uint8), y=np.arange(3))
    np.save(tmp_path / "ok.npy", np.ones((2, 9), np.float32))
    assert load_images(tmp_path / "ok.npz").x.shape == (3, 16)
    assert load_images(tmp_path / "ok.npy").x.shape == (2, 9)


def _pngs(folder, sizes):
    folder.mkdir()
    for i, (w, h) in enumerate(sizes):
        Image.fromarray(np.zeros((h, w), np.uint8)).save(folder / f"{i}.png")
    return folder


@pytest.mark.parametrize("side, pillow", [(12, "warns"), (20, "raises")])
def test_png_decompression_bomb_is_one_error(tmp_path, monkeypatch, side, pillow):
    """Above MAX_IMAGE_PIXELS Pillow warns, above twice that it raises: both are refused."""
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    folder = _pngs(tmp_path / "pngs", [(side, side)])
    with pytest.raises(DataError, match=r"0.png: .*decompression bomb.*; --data takes small "
                                        "images") as excinfo:
        load_images(folder)
    _one_line(excinfo)


def test_png_folder_too_big_in_total_is_one_error(tmp_path, monkeypatch):
    folder = _pngs(tmp_path / "pngs", [(28, 28)] * 3)
    assert load_images(folder).x.shape == (3, 784)
    monkeypatch.setattr(memory, "available_bytes", lambda: 10**4)  # 3 images need 21 kB
    with pytest.raises(DataError, match=r"pngs's images: 21.2 kB needed, 10 kB of memory "
                                        "available") as excinfo:
        load_images(folder)
    _one_line(excinfo)


def test_png_of_another_size_is_refused_before_decoding(tmp_path):
    folder = _pngs(tmp_path / "pngs", [(28, 28), (20, 28)])
    with pytest.raises(DataError, match="1.png is 20x28 pixels but 0.png is 28x28"):
        load_images(folder)


def _images(path, n=60, shape=(4, 4), seed=0):
    np.save(path, (np.random.default_rng(seed).random((n, *shape)) * 255).astype(np.uint8))
    return path


def test_arrays_are_scaled_and_shaped(tmp_path):
    images = load_images(_images(tmp_path / "a.npy", n=5, shape=(3, 4)))
    assert images.x.shape == (5, 12) and images.x.dtype == np.float32 and images.image_shape == (3, 4)
    assert images.x.max() <= 1 and images.x.max() > 0.5
    rows = np.random.default_rng(0).random((7, 9))
    np.savez(tmp_path / "b.npz", x=rows, y=np.arange(7))
    images = load_images(tmp_path / "b.npz")
    assert images.image_shape == (3, 3) and list(images.y) == list(range(7))
    np.testing.assert_array_equal(images.x, rows.astype(np.float32))
    np.save(tmp_path / "c.npy", rows[:, :8])
    assert load_images(tmp_path / "c.npy").image_shape is None  # 8 values: no square
    train, valid = holdout(images, 0.3)
    assert (len(train), len(valid)) == (5, 2) and list(valid.y) == [5, 6]


@pytest.mark.parametrize("array,message", [
    (np.zeros((4, 3), np.int64), "dtype int64; expected uint8"),
    (np.zeros((4, 2, 2, 2), np.uint8), "expected images (n, height, width)"),
    (np.zeros((0, 4), np.uint8), "holds no pixels"),
    (np.full((4, 4), np.inf, np.float32), "16 infinite"),
])
def test_bad_arrays_say_what_to_do(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_images(tmp_path / "bad.npy")


def test_cross_entropy_range_check_only_for_that_loss(tmp_path):
    np.save(tmp_path / "w.npy", np.linspace(-1, 2, 32, dtype=np.float32).reshape(2, 16))
    images = load_images(tmp_path / "w.npy")
    assert check_fits(images, 16, loss="squared_error") is images
    with pytest.raises(DataError, match=r"\[-1, 2\]"):
        check_fits(images, 16)


def _labelled(n, k, seed=0):
    from dae.customdata import Images
    x = np.random.default_rng(seed).random((n, 4), dtype=np.float32)
    return Images(x, (np.arange(n) % k).astype(np.int32), None, "mine")


def test_split_is_fixed_exhaustive_and_stratified():
    from dae.customdata import split
    images = _labelled(100, 4)
    parts = split(images)
    assert [len(p) for p in parts] == [80, 10, 10]
    rows = np.concatenate([[np.flatnonzero((images.x == r).all(1))[0] for r in p.x] for p in parts])
    assert sorted(rows) == list(range(100))  # every example once
    assert [list(np.bincount(p.y)) for p in parts[1:]] == [[3, 2, 3, 2], [2, 3, 2, 3]]
    assert list(np.bincount(parts[0].y)) == [20] * 4
    again = split(images)  # the same every time: the seed is fixed
    assert all(np.array_equal(a.x, b.x) for a, b in zip(parts, again))
    assert [p.source for p in parts] == ["mine (training split)", "mine (validation split)",
                                         "mine (test split)"]


def test_split_counts_round_halves_up_and_need_three_examples():
    from dae.customdata import split
    images = _labelled(15, 2)
    assert [len(p) for p in split(images)] == [11, 2, 2]
    assert [len(p) for p in split(images, (0.6, 0.2, 0.2))] == [9, 3, 3]
    images.y = None  # no labels: a plain shuffle, the same counts
    assert [len(p) for p in split(images)] == [11, 2, 2]
    assert [len(p) for p in split(_labelled(3, 3))] == [1, 1, 1]
    with pytest.raises(DataError, match="mine holds 2 examples, too few for a training, a "
                                        "validation and a test set; pass at least 3"):
        split(_labelled(2, 2))


def test_a_class_of_one_example_goes_to_training():
    from dae.customdata import split
    images = _labelled(21, 2)
    images.y[:] = 0
    images.y[7] = 1
    train, valid, test = split(images)
    assert list(train.y).count(1) == 1 and 1 not in valid.y and 1 not in test.y


def test_class_subfolders_are_the_labels_in_sorted_order(tmp_path):
    from dae.customdata import check_labels, describe_split, split
    (tmp_path / "tree").mkdir()
    for name, count in (("zebra", 2), ("ant", 3)):
        _pngs(tmp_path / "tree" / name, [(5, 4)] * count)
    images = load_images(tmp_path / "tree")
    assert images.classes == ["ant", "zebra"] and list(images.y) == [0, 0, 0, 1, 1]
    assert images.image_shape == (4, 5) and check_labels(images) == 2
    parts = split(images)
    assert describe_split(images, parts) == (
        f"split {tmp_path / 'tree'} (5 examples, 2 classes) into 3 training, 1 validation, 1 test "
        "examples: fractions 0.8/0.1/0.1, stratified by class, shuffled with the fixed seed 0 "
        "(not --seed)")
    _pngs(tmp_path / "tree" / "bee", [(5, 5)])
    with pytest.raises(DataError, match=r"bee/0.png is 5x5 pixels but ant/0.png is 5x4"):
        load_images(tmp_path / "tree")


def test_a_folder_of_pngs_keeps_reading_as_unlabelled_images(tmp_path):
    folder = _pngs(tmp_path / "pngs", [(3, 3)] * 2)
    _pngs(folder / "thumbnails", [(3, 3)])  # a subfolder beside PNGs is not a class
    images = load_images(folder)
    assert images.y is None and images.classes is None and images.x.shape == (2, 9)
