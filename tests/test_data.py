"""Tests of dae.data: IDX and pickle readers, validation, download, resolution order."""
import gzip
import hashlib
import os
import pickle
import struct
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from dae import data
from dae.data import DataError, load_data, load_mnist, read_idx

STANDARD = list(data.MNIST_FILES)
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = STANDARD


# -- helpers --------------------------------------------------------------------------
def idx_bytes(array, code=0x08, ndim=None):
    """The IDX encoding of array (big-endian header and data)."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    ndim = array.ndim if ndim is None else ndim
    header = bytes([0, 0, code, ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + np.asarray(array, dtype=dtype).tobytes()


def write(path, payload, gz=None):
    gz = path.name.endswith(".gz") if gz is None else gz
    path.write_bytes(gzip.compress(payload, mtime=0) if gz else payload)
    return path


def tiny_mnist(directory, n_train=12, n_test=4, seed=0):
    """Write the four standard-named IDX files with tiny random contents; return the arrays."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {
        TRAIN_IMAGES: rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        TRAIN_LABELS: rng.integers(0, 10, n_train, dtype=np.uint8),
        TEST_IMAGES: rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        TEST_LABELS: rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        write(directory / name, idx_bytes(array))
    return arrays


def checksums(directory):
    return {name: ((directory / name).stat().st_size,
                   hashlib.md5((directory / name).read_bytes()).hexdigest()) for name in STANDARD}


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $DAE_DATA_DIR, the default data dir in tmp_path, no network mirrors."""
    monkeypatch.delenv("DAE_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "DEFAULT_DATA_DIR", tmp_path / "default")
    monkeypatch.setattr(data, "MIRRORS", ())
    return tmp_path


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A file:// mirror of tiny MNIST files, which the md5 table is patched to accept."""
    source = tmp_path / "mirror"
    arrays = tiny_mnist(source)
    monkeypatch.setattr(data, "MNIST_FILES", checksums(source))
    return source.as_uri() + "/", arrays


def py2_pickle(obj):
    """A protocol-2 pickle as Python 2 + NumPy wrote it (numpy.core paths, byte strings)."""
    def string(b):
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    def integer(v):
        return b"J" + struct.pack("<i", v)

    def dump(o):
        if isinstance(o, tuple):
            return b"(" + b"".join(dump(e) for e in o) + b"t"
        a = np.ascontiguousarray(o)
        order = b"|" if a.dtype.itemsize == 1 else b"<"
        return (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + integer(0) + b"\x85"
                + string(b"b") + b"\x87R(" + integer(1) + b"(" + b"".join(integer(s) for s in a.shape)
                + b"tcnumpy\ndtype\n" + string(a.dtype.str[1:].encode()) + integer(0) + integer(1)
                + b"\x87R(" + integer(3) + string(order) + b"NNN" + integer(-1) + integer(-1)
                + integer(0) + b"tb\x89" + string(a.tobytes()) + b"tb")
    return b"\x80\x02" + dump(obj) + b"."


def tiny_splits(seed=1):
    rng = np.random.default_rng(seed)
    return tuple((rng.random((n, 784)).astype(np.float32), rng.integers(0, 10, n).astype(np.int64))
                 for n in (5, 3, 2))


# -- read_idx -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny-idx3-ubyte.gz", "tiny-idx3-ubyte"])
def test_read_idx_round_trips_a_tiny_file(tmp_path, name):
    images = np.arange(12, dtype=np.uint8).reshape(3, 2, 2) * 20
    path = write(tmp_path / name, idx_bytes(images))
    out = read_idx(path)
    assert out.dtype == np.uint8 and out.shape == (3, 2, 2)
    np.testing.assert_array_equal(out, images)


@pytest.mark.parametrize("code, values", [(0x0C, np.array([[-3, 70000], [5, 0]])),
                                          (0x0E, np.array([0.5, -1.25, 1e300])),
                                          (0x0B, np.array([-2, 300]))])
def test_read_idx_reads_other_types_in_native_order(tmp_path, code, values):
    out = read_idx(write(tmp_path / "x.idx", idx_bytes(values, code)))
    assert out.dtype.isnative and out.shape == values.shape
    np.testing.assert_array_equal(out, values)


def test_bad_magic_number(tmp_path):
    path = write(tmp_path / "x.gz", b"\x12\x34\x08\x01" + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(DataError, match=r"x\.gz: bad IDX magic number .*2051 for images"):
        read_idx(path)


def test_unknown_type_code(tmp_path):
    path = write(tmp_path / "x.gz", bytes([0, 0, 0x07, 1]) + struct.pack(">I", 2) + b"\x00\x01")
    with pytest.raises(DataError, match="bad IDX magic number"):
        read_idx(path)


def test_truncated_idx(tmp_path):
    full = idx_bytes(np.zeros((3, 2, 2), np.uint8))
    path = write(tmp_path / "short.gz", full[:-5])
    with pytest.raises(DataError, match=r"short\.gz: truncated: .*shape \(3, 2, 2\) \(12 bytes.*found 7 bytes"):
        read_idx(path)


def test_truncated_header(tmp_path):
    path = write(tmp_path / "short", idx_bytes(np.zeros((3, 2, 2), np.uint8))[:9])
    with pytest.raises(DataError, match="truncated IDX header"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = write(tmp_path / "long", idx_bytes(np.zeros(4, np.uint8)) + b"junk")
    with pytest.raises(DataError, match="trailing bytes.*found 8 bytes"):
        read_idx(path)


def test_not_gzip(tmp_path):
    path = write(tmp_path / "plain.gz", b"<html>not found</html>", gz=False)
    with pytest.raises(DataError, match=r"plain\.gz: not a gzip file.*expected 1f8b"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    good = gzip.compress(idx_bytes(np.arange(3000, dtype=np.uint16).astype(np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"cut\.gz: corrupt gzip data"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.gz: file not found"):
        read_idx(tmp_path / "nope.gz")


# -- load_mnist on tiny IDX files -------------------------------------------------------
def test_load_mnist_tiny_split_and_scaling(tmp_path):
    arrays = tiny_mnist(tmp_path, n_train=12, n_test=4)
    (tx, ty), (vx, vy), (sx, sy) = load_mnist(tmp_path, verify_md5=False)
    assert tx.shape == (10, 784) and vx.shape == (2, 784) and sx.shape == (4, 784)
    assert {a.dtype for a in (tx, vx, sx)} == {np.dtype(np.float32)}
    assert {a.dtype for a in (ty, vy, sy)} == {np.dtype(np.int32)}
    images = arrays[TRAIN_IMAGES].reshape(12, 784)
    np.testing.assert_allclose(np.concatenate([tx, vx]), images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate([ty, vy]), arrays[TRAIN_LABELS])
    np.testing.assert_array_equal(sy, arrays[TEST_LABELS])
    assert 0 <= tx.min() and tx.max() <= 1


def test_load_data_gives_the_tutorials_shared_variables(tmp_path):
    tiny_mnist(tmp_path)
    (tx, ty), _, (sx, sy) = load_data(tmp_path, verify_md5=False)
    assert tx.get_value(borrow=True).dtype == np.float32 and tx.get_value(borrow=True).shape == (10, 784)
    assert ty.dtype == "int32" and ty.ndim == 1
    shared_y = ty.owner.inputs[0]
    assert shared_y.get_value(borrow=True).dtype == np.float32
    assert sx.get_value(borrow=True).shape == (4, 784)


def test_wrong_md5_of_a_standard_file(tmp_path, monkeypatch):
    tiny_mnist(tmp_path)
    table = checksums(tmp_path)
    table[TRAIN_LABELS] = (table[TRAIN_LABELS][0], "0" * 32)
    monkeypatch.setattr(data, "MNIST_FILES", table)
    with pytest.raises(DataError, match=rf"{TRAIN_LABELS}: md5 [0-9a-f]{{32}}, expected 0{{32}}.*Delete it"):
        load_mnist(tmp_path)
    load_mnist(tmp_path, verify_md5=False)  # the escape hatch


def test_wrong_size_of_a_standard_file(tmp_path):
    tiny_mnist(tmp_path)  # tiny files against the real table
    with pytest.raises(DataError, match=rf"{TRAIN_IMAGES}: \d+ bytes, expected 9912422 .*truncated"):
        load_mnist(tmp_path)


def test_label_out_of_range(tmp_path):
    tiny_mnist(tmp_path)
    labels = np.array([0, 1, 2, 10], np.uint8)
    write(tmp_path / TEST_LABELS, idx_bytes(labels))
    with pytest.raises(DataError, match=rf"{TEST_LABELS}: label 10 at index 3, expected labels in 0..9"):
        load_mnist(tmp_path, verify_md5=False)


def test_image_and_label_counts_differ(tmp_path):
    tiny_mnist(tmp_path)
    write(tmp_path / TEST_LABELS, idx_bytes(np.zeros(3, np.uint8)))
    with pytest.raises(DataError, match=rf"{TEST_LABELS}: 3 labels, but {TEST_IMAGES} has 4 images"):
        load_mnist(tmp_path, verify_md5=False)


def test_labels_where_images_belong(tmp_path):
    tiny_mnist(tmp_path)
    write(tmp_path / TRAIN_IMAGES, idx_bytes(np.zeros(12, np.uint8)))
    with pytest.raises(DataError, match=rf"{TRAIN_IMAGES}: magic number 2049, expected 2051"):
        load_mnist(tmp_path, verify_md5=False)


def test_wrong_image_size(tmp_path):
    tiny_mnist(tmp_path)
    write(tmp_path / TEST_IMAGES, idx_bytes(np.zeros((4, 2, 2), np.uint8)))
    with pytest.raises(DataError, match="images of 2x2 pixels, expected 28x28"):
        load_mnist(tmp_path, verify_md5=False)


# -- mnist.pkl.gz ------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["python2", "python3"])
def test_pickle_round_trips(tmp_path, how):
    splits = tiny_splits()
    payload = py2_pickle(splits) if how == "python2" else pickle.dumps(splits, protocol=2)
    path = write(tmp_path / "mnist.pkl.gz", payload)
    for where in (path, tmp_path):  # the file itself, or the folder holding it
        out = load_mnist(where)
        assert [x.shape for x, _ in out] == [(5, 784), (3, 784), (2, 784)]
        for (x, y), (x0, y0) in zip(out, splits):
            assert x.dtype == np.float32 and y.dtype == np.int32
            np.testing.assert_array_equal(x, x0)
            np.testing.assert_array_equal(y, y0)


def test_python2_pickle_needs_latin1():
    # The float bytes include values >= 128, which only latin1 decodes back unchanged.
    payload = py2_pickle(tiny_splits())
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(payload)


@pytest.mark.parametrize("bad, message", [
    ((1, 2), "found a tuple of length 2, expected"),
    (((np.zeros((2, 784)), np.zeros(2)),) * 2 + ((np.zeros((2, 5)), np.zeros(2)),),
     r"test_x is an array of shape \(2, 5\).*expected an array of shape \(n, 784\)"),
    (((np.zeros((2, 784)), np.zeros(3)),) * 3, r"train_y is an array of shape \(3,\).*expected .*\(2,\)"),
    (((np.zeros((2, 784)), np.array([0, 12])),) * 3, r"train_y has labels in \[0, 12\], expected 0..9"),
    (((np.full((2, 784), 255.0), np.zeros(2)),) * 3, r"train_x has values in \[255.0, 255.0\], expected \[0, 1\]"),
])
def test_pickle_with_wrong_structure(tmp_path, bad, message):
    path = write(tmp_path / "mnist.pkl.gz", pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match=r"mnist\.pkl\.gz: " + message):
        load_mnist(path)


class _Exploit:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


def test_pickle_runs_no_code(tmp_path):
    target = tmp_path / "pwned"
    path = write(tmp_path / "mnist.pkl.gz", pickle.dumps(_Exploit(str(target))))
    with pytest.raises(DataError, match=r"refusing to load (io|builtins)\.open: only NumPy arrays"):
        load_mnist(path)
    assert not target.exists()


def test_pickle_not_gzip_nor_pickle(tmp_path):
    path = write(tmp_path / "mnist.pkl.gz", b"hello", gz=False)
    with pytest.raises(DataError, match="cannot read it as a pickle"):
        load_mnist(path)


# -- download -------------------------------------------------------------------------
def test_download_from_a_file_mirror(isolated, mirror):
    url, arrays = mirror
    default = data.DEFAULT_DATA_DIR
    assert not default.exists()
    (tx, ty), (vx, _), (sx, sy) = load_mnist(mirrors=[(isolated / "no-such-mirror").as_uri(), url])
    assert sorted(os.listdir(default)) == sorted(STANDARD)  # nothing else (no .part files)
    np.testing.assert_array_equal(sy, arrays[TEST_LABELS])
    assert tx.shape == (10, 784) and vx.shape == (2, 784) and sx.shape == (4, 784)
    assert data.download_mnist(default, mirrors=[url]) == []  # all there: nothing fetched


def test_download_md5_mismatch_leaves_nothing(isolated, mirror, monkeypatch):
    url, _ = mirror
    table = dict(data.MNIST_FILES)
    table[TRAIN_IMAGES] = (table[TRAIN_IMAGES][0], "0" * 32)  # the mirror serves "wrong" bytes
    monkeypatch.setattr(data, "MNIST_FILES", table)
    with pytest.raises(DataError) as info:
        load_mnist(mirrors=[url])
    message = str(info.value)
    assert f"1 file(s) missing: {TRAIN_IMAGES}" in message
    assert f"{url}{TRAIN_IMAGES}: md5" in message and "expected " + "0" * 32 in message
    assert str(data.DEFAULT_DATA_DIR) in message and "DAE_DATA_DIR" in message
    assert sorted(os.listdir(data.DEFAULT_DATA_DIR)) == sorted(set(STANDARD) - {TRAIN_IMAGES})


def test_download_wrong_size_leaves_nothing(isolated, mirror, monkeypatch):
    url, _ = mirror
    table = dict(data.MNIST_FILES)
    table[TEST_LABELS] = (table[TEST_LABELS][0] + 1, table[TEST_LABELS][1])
    monkeypatch.setattr(data, "MNIST_FILES", table)
    with pytest.raises(DataError, match=rf"{TEST_LABELS}: received \d+ bytes, expected"):
        data.download_mnist(isolated / "dest", mirrors=[url])
    assert TEST_LABELS not in os.listdir(isolated / "dest")
    assert not [n for n in os.listdir(isolated / "dest") if n.endswith(".part")]


def test_all_mirrors_down(isolated):
    with pytest.raises(DataError) as info:
        load_mnist(mirrors=[(isolated / "gone").as_uri() + "/"])
    message = str(info.value)
    assert "4 file(s) missing" in message and all(name in message for name in STANDARD)
    assert "Looked for MNIST in: " + str(data.DEFAULT_DATA_DIR) in message
    assert "set DAE_DATA_DIR" in message and "by hand" in message
    assert os.listdir(data.DEFAULT_DATA_DIR) == []


def test_interrupted_download_leaves_nothing(isolated, mirror, monkeypatch):
    url, _ = mirror

    class Response:
        def __init__(self):
            self.reads = 0

        def read(self, n):
            self.reads += 1
            if self.reads > 1:
                raise KeyboardInterrupt
            return b"\x1f\x8b partial"

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda request, timeout: Response())
    dest = isolated / "dest"
    with pytest.raises(KeyboardInterrupt):
        data.download_mnist(dest, mirrors=["https://example.invalid/"])
    assert os.listdir(dest) == []


def test_download_never_overwrites(isolated, mirror):
    url, _ = mirror
    dest = isolated / "dest"
    dest.mkdir()
    (dest / TRAIN_LABELS).write_bytes(b"mine")
    fetched = data.download_mnist(dest, mirrors=[url])
    assert sorted(p.name for p in fetched) == sorted(set(STANDARD) - {TRAIN_LABELS})
    assert (dest / TRAIN_LABELS).read_bytes() == b"mine"
    with pytest.raises(DataError, match=rf"{TRAIN_LABELS}: 4 bytes, expected"):
        load_mnist(dest)


# -- where MNIST is looked for ----------------------------------------------------------
def test_resolution_order(isolated, monkeypatch):
    given, env, default = isolated / "given", isolated / "env", data.DEFAULT_DATA_DIR
    for n, directory in ((18, given), (24, env), (30, default)):
        tiny_mnist(directory, n_train=n)

    def n_train(dataset=None):
        (tx, _), (vx, _), _ = load_mnist(dataset, verify_md5=False)
        return len(tx) + len(vx)

    assert n_train() == 30
    monkeypatch.setenv("DAE_DATA_DIR", str(env))
    assert n_train() == 24
    assert n_train(given) == 18
    assert n_train(str(given)) == 18
    monkeypatch.setenv("DAE_DATA_DIR", "")  # empty counts as unset
    assert n_train() == 30


def test_given_path_must_exist(isolated, monkeypatch):
    tiny_mnist(data.DEFAULT_DATA_DIR)
    with pytest.raises(DataError, match=r"MNIST location .*typo \(the path you gave\) does not exist"):
        load_mnist(isolated / "typo", verify_md5=False)


def test_env_dir_must_exist(isolated, monkeypatch):
    tiny_mnist(data.DEFAULT_DATA_DIR)
    monkeypatch.setenv("DAE_DATA_DIR", str(isolated / "typo"))
    with pytest.raises(DataError, match=r"typo \(\$DAE_DATA_DIR\) does not exist"):
        load_mnist(verify_md5=False)


def test_given_folder_without_mnist_neither_falls_back_nor_downloads(isolated, mirror):
    url, _ = mirror
    tiny_mnist(data.DEFAULT_DATA_DIR)
    empty = isolated / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=rf"no MNIST in .*empty \(the path you gave\): missing {TRAIN_IMAGES}"):
        load_mnist(empty, mirrors=[url])
    assert os.listdir(empty) == []


def test_given_idx_file_asks_for_its_folder(isolated):
    tiny_mnist(isolated / "d")
    with pytest.raises(DataError, match="is one of MNIST's IDX files; pass the folder"):
        load_mnist(isolated / "d" / TRAIN_IMAGES)


def test_idx_files_are_preferred_to_a_pickle(isolated):
    default = data.DEFAULT_DATA_DIR
    default.mkdir()
    write(default / "mnist.pkl.gz", pickle.dumps(tiny_splits(), protocol=2))
    assert [len(x) for x, _ in load_mnist()] == [5, 3, 2]  # only the pickle: used
    tiny_mnist(default)
    assert [len(x) for x, _ in load_mnist(verify_md5=False)] == [10, 2, 4]


# -- the real MNIST ---------------------------------------------------------------------
def test_real_mnist():
    where = os.environ.get("DAE_DATA_DIR")
    if not where or not all((Path(where) / name).is_file() for name in STANDARD):
        pytest.skip("MNIST not found: set DAE_DATA_DIR to the folder of the four IDX .gz files")
    (tx, ty), (vx, vy), (sx, sy) = load_data()  # from $DAE_DATA_DIR, md5s verified
    arrays = [v.get_value(borrow=True) for v in (tx, vx, sx)]
    assert [a.shape for a in arrays] == [(50000, 784), (10000, 784), (10000, 784)]
    for a in arrays:
        assert a.dtype == np.float32 and a.min() == 0.0 and a.max() == 1.0
    labels = [y.owner.inputs[0].get_value(borrow=True) for y in (ty, vy, sy)]
    assert all(y.dtype == "int32" for y in (ty, vy, sy))
    assert [len(y) for y in labels] == [50000, 10000, 10000]
    assert all(set(np.unique(y)) == set(range(10)) for y in labels)
    assert abs(arrays[0].mean() - 0.1307) < 0.002
    np.testing.assert_array_equal(np.bincount(labels[2].astype(int)),
                                  [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
