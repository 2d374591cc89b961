"""dae.customdata's size checks: array headers and PNGs are sized before anything is decoded."""
import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from dae import memory
from dae.customdata import load_images
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
