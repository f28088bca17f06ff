"""Loaders of the image tasks: sequential grayscale CIFAR-10 and Pathfinder.

Images become sequences of pixels in row-major order, shape ``(H * W, 1)``,
float32 in ``[0, 1]`` (``normalize=True``: standardised with fixed constants,
see each loader).  Layouts::

    <data_dir>/cifar-10-batches-py/{data_batch_1..5,test_batch}      python pickles
    <root>/pathfinder{32,64,128,256}/<split>/imgs/<b>/sample_<k>.png
    <root>/pathfinder{32,64,128,256}/<split>/metadata/<b>.npy        text, one line per image
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from ..errors import DataOptionError, DatasetFormatError, DatasetNotFoundError
from .datasets import ImageDataset, TaskData, split_indices
from .layout import find_lra_dir
from .png import check_png, read_png_gray
from .safe_pickle import load_restricted_pickle

__all__ = ["PathfinderDataset", "cifar_grayscale", "load_cifar", "load_pathfinder", "read_cifar_batch"]

logger = logging.getLogger(__name__)

_CIFAR_LAYOUT = "<data_dir>/cifar-10-batches-py/{data_batch_1,...,data_batch_5,test_batch} (cifar-10-python.tar.gz)"
_CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
#: Grayscale CIFAR mean and standard deviation used by S4 for ``normalize=True``.
CIFAR_GRAY_MEAN = 122.6 / 255.0
CIFAR_GRAY_STD = 61.0 / 255.0
PATHFINDER_RESOLUTIONS = (32, 64, 128, 256)


def _check_fraction(value, name: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise DataOptionError(f"{name} must lie in [0, 1), got {value!r}")


# --------------------------------------------------------------------------- CIFAR-10


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch with the restricted unpickler.

    Returns
    -------
    data : ndarray of uint8, shape (n, 3072)
        Rows hold the R, G, B planes of a 32 x 32 image, each row-major.
    labels : ndarray of int64, shape (n,)
        In ``0..9``.

    Raises
    ------
    DatasetNotFoundError
        The file is missing.
    DatasetFormatError
        Not a dict with ``b"data"`` (uint8, n x 3072) and ``b"labels"`` (n ints in
        0..9), or a pickle that names a disallowed global.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"CIFAR-10 batch {path} not found; expected layout: {_CIFAR_LAYOUT}")
    obj = load_restricted_pickle(path)
    if not isinstance(obj, dict):
        raise DatasetFormatError(f"{path}: expected a dict, got {type(obj).__name__}")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels"))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFormatError(f"{path}: b'data' must be a uint8 array of shape (n, 3072), got {desc}")
    if not isinstance(labels, list) or not all(type(v) is int for v in labels):
        raise DatasetFormatError(f"{path}: b'labels' must be a list of ints")
    y = np.array(labels, dtype=np.int64)
    if len(y) != len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {len(y)} labels")
    bad = np.flatnonzero((y < 0) | (y > 9))
    if bad.size:
        raise DatasetFormatError(
            f"{path}: label {int(y[bad[0]])} of image {int(bad[0])} is outside 0..9 ({bad.size} such label(s))"
        )
    return data, y


def cifar_grayscale(data: np.ndarray) -> np.ndarray:
    """Grayscale pixel sequences ``(0.299 R + 0.587 G + 0.114 B) / 255``.

    Parameters
    ----------
    data : ndarray of uint8, shape (n, 3072)
        CIFAR rows (R, G, B planes).

    Returns
    -------
    ndarray of float32, shape (n, 1024)
        Values in ``[0, 1]``, row-major pixel order.
    """
    rgb = data.reshape(len(data), 3, 1024).astype(np.float64)
    gray = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]) / 255.0
    return gray.astype(np.float32)


def load_cifar(data_dir: Path, *, val_fraction: float = 0.1, seed: int = 0, normalize: bool = False) -> TaskData:
    """Sequential grayscale CIFAR-10 (LRA "Image"): L = 1024, d_input = 1.

    Parameters
    ----------
    data_dir : Path
        Data root holding ``cifar-10-batches-py/``.
    val_fraction : float
        Fraction of the 50,000 training images held out for validation (0.1:
        45k / 5k), drawn with ``seed``; the test split is ``test_batch`` (10k).
    seed : int
        Seed of the train/validation draw.
    normalize : bool
        ``False``: pixels in ``[0, 1]``.  ``True``: ``(x - 122.6/255) / (61.0/255)``,
        the constants S4 uses.
    """
    _check_fraction(val_fraction, "val_fraction")
    root = data_dir / "cifar-10-batches-py"
    if not root.is_dir():
        raise DatasetNotFoundError(f"CIFAR-10 folder {root} not found; expected layout: {_CIFAR_LAYOUT}")
    batches = [read_cifar_batch(root / name) for name in _CIFAR_TRAIN]
    train_x = cifar_grayscale(np.concatenate([b[0] for b in batches]))
    train_y = np.concatenate([b[1] for b in batches])
    test_data, test_y = read_cifar_batch(root / "test_batch")
    test_x = cifar_grayscale(test_data)
    if normalize:
        train_x = (train_x - CIFAR_GRAY_MEAN) / CIFAR_GRAY_STD
        test_x = (test_x - CIFAR_GRAY_MEAN) / CIFAR_GRAY_STD
    tr, va, _ = split_indices(len(train_y), val_fraction, 0.0, seed)

    def make(x: np.ndarray, y: np.ndarray) -> ImageDataset:
        return ImageDataset(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).unsqueeze(-1), y)

    return TaskData(
        name="cifar",
        train=make(train_x[tr], train_y[tr]),
        val=make(train_x[va], train_y[va]),
        test=make(test_x, test_y),
        n_classes=10,
        vocab_size=None,
        d_input=1,
        max_length=1024,
    )


# --------------------------------------------------------------------------- Pathfinder


class PathfinderDataset(torch.utils.data.Dataset):
    """Pathfinder images decoded on access: items ``(x, y)``, ``x`` of shape (res * res, 1).

    Parameters
    ----------
    root : Path
        The ``pathfinder<res>`` folder.
    paths : list of str
        Image paths relative to ``root``.
    labels : ndarray of int64, shape (n,)
    resolution : int
        Expected image side.
    normalize : bool
        ``True`` maps ``[0, 1]`` to ``[-1, 1]`` (``(x - 0.5) / 0.5``, as S4).
    """

    def __init__(self, root: Path, paths: list[str], labels: np.ndarray, resolution: int, normalize: bool):
        self.root = Path(root)
        self.paths = list(paths)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.resolution = int(resolution)
        self.normalize = bool(normalize)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} items")
        path = self.root / self.paths[index]
        img = read_png_gray(path)
        res = self.resolution
        if img.shape != (res, res):
            raise DatasetFormatError(f"{path}: expected a {res} x {res} image, got {img.shape}")
        x = torch.from_numpy(img.astype(np.float32).reshape(res * res, 1)) / 255.0
        if self.normalize:
            x = (x - 0.5) / 0.5
        return x, int(self.labels[index])


def _confined(root: Path, rel: str, where: str) -> Path:
    """``root / rel`` resolved, which must be a regular file inside ``root`` (resolved too).

    A metadata line such as ``../../../../etc passwd`` or a symbolic link to ``/dev/zero`` is
    rejected before anything outside the data folder is opened.
    """
    base = root.resolve()
    image = (base / rel).resolve()
    if not image.is_relative_to(base):
        raise DatasetFormatError(f"{where}: image path {rel!r} points outside the data folder {base}")
    if not image.exists():
        raise DatasetFormatError(f"{where}: listed image {root / rel} is missing")
    if not image.is_file():
        raise DatasetFormatError(f"{where}: listed image {root / rel} is not a regular file")
    return image


def _read_pathfinder_metadata(root: Path, split: str, resolution: int) -> tuple[list[str], np.ndarray]:
    """Image paths (relative to ``root``) and labels, every image checked (:func:`check_png`)."""
    meta_dir = root / split / "metadata"
    files = list(meta_dir.glob("*.npy"))
    if not files:
        raise DatasetFormatError(f"{meta_dir}: no <b>.npy metadata files")
    try:
        files.sort(key=lambda p: int(p.stem))
    except ValueError:
        raise DatasetFormatError(f"{meta_dir}: metadata files must be named <integer>.npy") from None
    paths: list[str] = []
    labels: list[int] = []
    skipped: list[str] = []
    for meta in files:
        try:
            text = meta.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise DatasetFormatError(f"{meta}: metadata must be text lines 'imgs/<b> sample_<k>.png ...'") from None
        for lineno, line in enumerate(text.splitlines(), start=1):
            fields = line.split()
            if not fields:
                continue
            where = f"{meta}:{lineno}"
            if len(fields) < 4:
                raise DatasetFormatError(
                    f"{where}: expected at least 4 fields 'imgs/<b> sample_<k>.png <n> <label> ...', got {len(fields)}"
                )
            if fields[3] not in ("0", "1"):
                raise DatasetFormatError(f"{where}: label (field 3) must be 0 or 1, got {fields[3]!r}")
            rel = f"{split}/{fields[0]}/{fields[1]}"
            image = _confined(root, rel, where)
            if not check_png(image, (resolution, resolution)):  # empty: e.g. pathfinder32/.../sample_172.png
                skipped.append(str(image))
                continue
            paths.append(rel)
            labels.append(int(fields[3]))
    if skipped:
        logger.warning("Pathfinder: skipped %d empty image file(s): %s", len(skipped), ", ".join(skipped[:5]))
    if not paths:
        raise DatasetFormatError(f"{meta_dir}: the metadata lists no readable image")
    return paths, np.array(labels, dtype=np.int64)


def load_pathfinder(
    data_dir: Path,
    *,
    resolution: int = 32,
    split: str = "curv_contour_length_14",
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    normalize: bool = False,
) -> TaskData:
    """Pathfinder (LRA): is there a path between the two dots?  L = resolution**2, d_input = 1.

    The metadata ``<split>/metadata/<b>.npy`` files are text despite their name: one
    line per image, ``imgs/<b> sample_<k>.png <...> <label> ...``, the label in field 3
    (0-based).  Empty image files (a known one: ``pathfinder32/curv_baseline/imgs/0/
    sample_172.png``) are skipped with a warning; every other listed image must be a regular
    file inside the ``pathfinder<res>`` folder (after resolving symbolic links) and pass
    :func:`~mor_torch.lra.data.png.check_png` (PNG signature, ``res x res``, not truncated) when
    the task is loaded; images are decoded lazily, on access.

    Parameters
    ----------
    data_dir : Path
        Data root (the LRA nesting levels are detected).
    resolution : {32, 64, 128, 256}
    split : str
        Difficulty folder: ``curv_baseline``, ``curv_contour_length_9`` or
        ``curv_contour_length_14`` (LRA's choice, the default).
    val_fraction, test_fraction : float
        Held-out fractions (LRA: 80/10/10), drawn with ``seed``.
    seed : int
    normalize : bool
        ``True``: ``(x - 0.5) / 0.5``, pixels in ``[-1, 1]``.
    """
    if resolution not in PATHFINDER_RESOLUTIONS:
        raise DataOptionError(f"resolution must be one of {PATHFINDER_RESOLUTIONS}, got {resolution!r}")
    if not isinstance(split, str) or not split or "/" in split or split.startswith("."):
        raise DataOptionError(f"split must be a folder name such as 'curv_contour_length_14', got {split!r}")
    _check_fraction(val_fraction, "val_fraction")
    _check_fraction(test_fraction, "test_fraction")
    folder = f"pathfinder{resolution}"
    layout = (
        f"<data_dir>/lra_release/lra_release/{folder}/{split}/{{imgs/<b>/sample_<k>.png, metadata/<b>.npy}} "
        f"(or with one lra_release/ level, or <data_dir>/{folder}/...)"
    )
    root = find_lra_dir(data_dir, folder, [f"{split}/metadata", f"{split}/imgs"], layout)
    paths, labels = _read_pathfinder_metadata(root, split, resolution)
    tr, va, te = split_indices(len(labels), val_fraction, test_fraction, seed)

    def make(index: np.ndarray) -> PathfinderDataset:
        return PathfinderDataset(root, [paths[i] for i in index], labels[index], resolution, normalize)

    logger.info("pathfinder%d/%s: %d/%d/%d images", resolution, split, len(tr), len(va), len(te))
    return TaskData(
        name="pathfinder",
        train=make(tr),
        val=make(va),
        test=make(te),
        n_classes=2,
        vocab_size=None,
        d_input=1,
        max_length=resolution * resolution,
    )
