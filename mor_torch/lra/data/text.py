"""Loaders of the token tasks: ListOps (LRA files and generated mini version), IMDB, AAN.

Layouts (``<root>`` is one of the LRA nesting levels, see :mod:`.layout`)::

    <root>/listops-1000/basic_{train,val,test}.tsv         header "Source<TAB>Target"
    <data_dir>/listops-mini-<hash>/basic_{train,val,test}.tsv   (generated, cached)
    <data_dir>/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt
    <root>/tsv_data/new_aan_pairs.{train,eval,test}.tsv    no header; label id1 id2 text1 text2
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import os
import re
import shutil
import uuid
from pathlib import Path

import numpy as np

from ..errors import DataOptionError, DatasetFormatError, DatasetNotFoundError
from ..files import atomic_write_text
from .datasets import PairTokenDataset, TaskData, TokenDataset, pack_sequences, split_indices
from .layout import find_lra_dir
from .listops import generate_listops
from .tokenize import BYTE_VOCAB_SIZE, LISTOPS_VOCAB_SIZE, encode_bytes, listops_ids

__all__ = ["load_aan", "load_imdb", "load_listops", "load_listops_mini", "read_listops_tsv"]

logger = logging.getLogger(__name__)

_LISTOPS_LAYOUT = (
    "<data_dir>/lra_release/lra_release/listops-1000/basic_{train,val,test}.tsv "
    "(or with one lra_release/ level, or <data_dir>/listops-1000/...)"
)
_AAN_LAYOUT = (
    "<data_dir>/lra_release/lra_release/tsv_data/new_aan_pairs.{train,eval,test}.tsv "
    "(or with one lra_release/ level, or <data_dir>/tsv_data/...)"
)
_IMDB_LAYOUT = "<data_dir>/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt (the unpacked aclImdb_v1.tar.gz)"
_IMDB_NAME = re.compile(r"^\d+_\d+\.txt$")
_MINI_VERSION = 1  # bump when the generator's output for equal options changes
MINI_DEFAULTS = {
    "n_train": 4000,
    "n_val": 500,
    "n_test": 500,
    "min_length": 128,
    "max_length": 512,
    "max_depth": 10,
    "max_args": 10,
    "seed": 0,
}


def _check_length(max_length, name: str = "max_length") -> None:
    if max_length is not None and (not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1):
        raise DataOptionError(f"{name} must be a positive int or None, got {max_length!r}")


def _longest(*datasets: TokenDataset) -> int:
    return max((int(d.lengths.max()) for d in datasets if len(d)), default=0)


# --------------------------------------------------------------------------- ListOps


def read_listops_tsv(path: str | os.PathLike, max_length: int | None = None) -> TokenDataset:
    """Read one ListOps TSV file of the LRA format.

    Parameters
    ----------
    path : str or PathLike
        File with the header ``Source<TAB>Target`` and one ``expression<TAB>value``
        line per example (``\\n`` or ``\\r\\n`` line ends; blank lines ignored).
    max_length : int or None
        Keep the first ``max_length`` tokens of each expression.

    Returns
    -------
    TokenDataset
        Token ids (see :mod:`.tokenize`), labels in ``0..9``.

    Raises
    ------
    DatasetNotFoundError
        The file does not exist.
    DatasetFormatError
        Wrong header, a line without exactly two tab-separated fields, a label
        outside ``0..9``, an empty expression, an unknown token, or no example at all.
    """
    _check_length(max_length)
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"ListOps file {path} not found; expected layout: {_LISTOPS_LAYOUT}")
    seqs: list[np.ndarray] = []
    labels: list[int] = []
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            header = handle.readline().rstrip("\r\n")
            if header.split("\t") != ["Source", "Target"]:
                raise DatasetFormatError(f"{path}:1: expected the header 'Source<TAB>Target', got {header[:80]!r}")
            for lineno, line in enumerate(handle, start=2):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                fields = line.split("\t")
                where = f"{path}:{lineno}"
                if len(fields) != 2:
                    raise DatasetFormatError(
                        f"{where}: expected 2 tab-separated fields (Source, Target), got {len(fields)}"
                    )
                try:
                    label = int(fields[1])
                except ValueError:
                    raise DatasetFormatError(f"{where}: label {fields[1][:40]!r} is not an int") from None
                if not 0 <= label <= 9:
                    raise DatasetFormatError(f"{where}: label {label} outside 0..9")
                ids = listops_ids(fields[0], where)
                if ids.size == 0:
                    raise DatasetFormatError(f"{where}: empty expression")
                seqs.append(ids[:max_length] if max_length is not None else ids)
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(f"{path}: not UTF-8 text ({exc})") from None
    if not seqs:
        raise DatasetFormatError(f"{path}: no examples (only the header line)")
    flat, offsets = pack_sequences(seqs)
    return TokenDataset(flat, offsets, np.array(labels, dtype=np.int64))


def _listops_task(name: str, folder: Path, max_length: int | None) -> TaskData:
    splits = [read_listops_tsv(folder / f"basic_{s}.tsv", max_length) for s in ("train", "val", "test")]
    logger.info("%s: %s examples from %s", name, "/".join(str(len(s)) for s in splits), folder)
    return TaskData(
        name=name,
        train=splits[0],
        val=splits[1],
        test=splits[2],
        n_classes=10,
        vocab_size=LISTOPS_VOCAB_SIZE,
        d_input=1,
        max_length=_longest(*splits),
    )


def load_listops(data_dir: Path, *, max_length: int | None = 2000) -> TaskData:
    """The LRA ListOps task (``listops-1000/basic_{train,val,test}.tsv``).

    Parameters
    ----------
    data_dir : Path
        Data root (the LRA nesting levels are detected).
    max_length : int or None
        Truncation length in tokens (LRA: 2000, which truncates nothing since the
        LRA expressions are shorter).
    """
    _check_length(max_length)
    files = [f"basic_{s}.tsv" for s in ("train", "val", "test")]
    folder = find_lra_dir(data_dir, "listops-1000", files, _LISTOPS_LAYOUT)
    return _listops_task("listops", folder, max_length)


def listops_mini_dir(data_dir: Path, options: dict) -> Path:
    """Cache folder ``<data_dir>/listops-mini-<hash>`` of a set of generation options."""
    key = json.dumps({"version": _MINI_VERSION, **options}, sort_keys=True)
    return data_dir / f"listops-mini-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _mini_complete(folder: Path, options: dict) -> bool:
    meta = folder / "options.json"
    if not meta.is_file() or not all((folder / f"basic_{s}.tsv").is_file() for s in ("train", "val", "test")):
        return False
    try:
        return json.loads(meta.read_text(encoding="utf-8")) == {"version": _MINI_VERSION, **options}
    except (OSError, ValueError):
        return False


def load_listops_mini(
    data_dir: Path,
    *,
    n_train: int = MINI_DEFAULTS["n_train"],
    n_val: int = MINI_DEFAULTS["n_val"],
    n_test: int = MINI_DEFAULTS["n_test"],
    min_length: int = MINI_DEFAULTS["min_length"],
    max_length: int = MINI_DEFAULTS["max_length"],
    max_depth: int = MINI_DEFAULTS["max_depth"],
    max_args: int = MINI_DEFAULTS["max_args"],
    seed: int = MINI_DEFAULTS["seed"],
) -> TaskData:
    """A small ListOps task from :func:`generate_listops`, generated once and cached.

    The files go to ``<data_dir>/listops-mini-<hash of the options>/``.  They are
    generated in a temporary sibling folder which is renamed into place only when
    complete (with an ``options.json`` written last), so a killed generation never
    leaves a folder that a later call trusts; a folder whose ``options.json`` is
    missing or disagrees is regenerated.

    Parameters
    ----------
    data_dir : Path
        Data root (created if missing).
    n_train, n_val, n_test : int
        Split sizes (defaults 4000 / 500 / 500).
    min_length, max_length : int
        Exclusive token-count bounds (defaults 128 and 512).
    max_depth, max_args, seed : int
        Generator options (defaults 10, 10, 0).
    """
    options = {
        "n_train": n_train,
        "n_val": n_val,
        "n_test": n_test,
        "min_length": min_length,
        "max_length": max_length,
        "max_depth": max_depth,
        "max_args": max_args,
        "seed": seed,
    }
    for name in ("n_train", "n_val", "n_test"):  # every split must hold an example (before generating)
        if isinstance(options[name], int) and not isinstance(options[name], bool) and options[name] < 1:
            raise DataOptionError(f"{name} must be at least 1 (every split needs an example), got {options[name]}")
    folder = listops_mini_dir(data_dir, options)
    if not _mini_complete(folder, options):
        try:
            _generate_mini(data_dir, folder, options)
        except OSError as exc:
            raise DataOptionError(
                f"cannot write the generated ListOps-mini data under data_dir={str(data_dir)!r}: {exc.strerror or exc}"
            ) from None
    return _listops_task("listops-mini", folder, None)


def _generate_mini(data_dir: Path, folder: Path, options: dict) -> None:
    """Generate into a temporary sibling folder, then rename it to ``folder`` (see load_listops_mini)."""
    logger.info("generating ListOps-mini into %s", folder)
    data_dir.mkdir(parents=True, exist_ok=True)
    tmp = data_dir / f".{folder.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        generate_listops(tmp, **options)
        atomic_write_text(tmp / "options.json", json.dumps({"version": _MINI_VERSION, **options}))
        if not _mini_complete(folder, options):  # else a concurrent call finished first
            if folder.exists():  # stale or incomplete: replace it
                shutil.rmtree(folder)
            try:
                os.rename(tmp, folder)
            except OSError:
                if not _mini_complete(folder, options):  # not a concurrent writer's result
                    raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


# --------------------------------------------------------------------------- IMDB


def _read_imdb_split(root: Path, split: str, max_length: int) -> TokenDataset:
    seqs: list[np.ndarray] = []
    labels: list[int] = []
    for label, polarity in ((0, "neg"), (1, "pos")):
        folder = root / split / polarity
        if not folder.is_dir():
            raise DatasetNotFoundError(f"IMDB folder {folder} not found; expected layout: {_IMDB_LAYOUT}")
        names = [p for p in folder.iterdir() if p.suffix == ".txt"]
        for p in names:
            if not _IMDB_NAME.match(p.name):
                raise DatasetFormatError(f"{p}: IMDB review files are named <id>_<rating>.txt")
        names.sort(key=lambda p: int(p.name.split("_")[0]))
        if not names:
            raise DatasetFormatError(f"{folder}: no <id>_<rating>.txt review files")
        for p in names:
            seqs.append(encode_bytes(p.read_bytes(), max_length))
            labels.append(label)
    flat, offsets = pack_sequences(seqs)
    return TokenDataset(flat, offsets, np.array(labels, dtype=np.int64), shift=1)


def _subset(ds: TokenDataset, index: np.ndarray) -> TokenDataset:
    seqs = [ds.flat[ds.offsets[i] : ds.offsets[i + 1]] for i in index]
    flat, offsets = pack_sequences(seqs)
    return TokenDataset(flat, offsets, ds.labels[index], shift=ds.shift)


def load_imdb(data_dir: Path, *, max_length: int = 2048, val_fraction: float = 0.0, seed: int = 0) -> TaskData:
    """IMDB sentiment at byte level (LRA "Text").

    Ids are ``byte + 1`` (0 = padding, ``vocab_size = 257``), label 1 = positive.

    Parameters
    ----------
    data_dir : Path
        Data root holding ``aclImdb/``.
    max_length : int
        Keep the first ``max_length`` bytes (DSS: 2048; S4: 4096).
    val_fraction : float
        0 (default, as LRA): the test split doubles as the validation split (the
        same object).  Otherwise this fraction of the training reviews, drawn with
        ``seed``, forms the validation split.
    seed : int
        Seed of the train/validation draw.
    """
    _check_length(max_length)
    if not 0.0 <= val_fraction < 1.0:
        raise DataOptionError(f"val_fraction must lie in [0, 1), got {val_fraction!r}")
    root = data_dir / "aclImdb"
    if not root.is_dir():
        raise DatasetNotFoundError(f"IMDB folder {root} not found; expected layout: {_IMDB_LAYOUT}")
    train = _read_imdb_split(root, "train", max_length)
    test = _read_imdb_split(root, "test", max_length)
    if val_fraction > 0:
        tr, va, _ = split_indices(len(train), val_fraction, 0.0, seed)
        train, val = _subset(train, tr), _subset(train, va)
    else:
        val = test
    return TaskData(
        name="imdb",
        train=train,
        val=val,
        test=test,
        n_classes=2,
        vocab_size=BYTE_VOCAB_SIZE,
        d_input=1,
        max_length=_longest(train, val, test),
    )


# --------------------------------------------------------------------------- AAN


def _unescape(field: bytes, where: str) -> bytes:
    """``b'...'`` / ``b"..."`` Python literal -> its bytes (other fields unchanged)."""
    if len(field) >= 3 and field[:1] == b"b" and field[1:2] in (b"'", b'"') and field[-1:] == field[1:2]:
        try:
            value = ast.literal_eval(field.decode("utf-8"))
        except (ValueError, SyntaxError, UnicodeDecodeError):
            raise DatasetFormatError(f"{where}: malformed bytes literal {field[:40]!r}") from None
        if isinstance(value, bytes):
            return value
    return field


def _read_aan(path: Path, max_length: int, unescape: bool) -> PairTokenDataset:
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    labels: list[int] = []
    with open(path, "rb") as handle:
        for lineno, line in enumerate(handle, start=1):
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            where = f"{path}:{lineno}"
            fields = line.split(b"\t")
            if len(fields) != 5:
                raise DatasetFormatError(
                    f"{where}: expected 5 tab-separated fields (label id1 id2 text1 text2), got {len(fields)}"
                )
            try:
                value = float(fields[0])
            except ValueError:
                raise DatasetFormatError(f"{where}: label {fields[0][:40]!r} is not a number") from None
            if value not in (0.0, 1.0):
                raise DatasetFormatError(f"{where}: label {value} is not 0 or 1")
            text1, text2 = fields[3], fields[4]
            if unescape:
                text1, text2 = _unescape(text1, where), _unescape(text2, where)
            first.append(encode_bytes(text1, max_length))
            second.append(encode_bytes(text2, max_length))
            labels.append(int(value))
    if not labels:
        raise DatasetFormatError(f"{path}: no examples")
    y = np.array(labels, dtype=np.int64)
    return PairTokenDataset(
        TokenDataset(*pack_sequences(first), y, shift=1), TokenDataset(*pack_sequences(second), y, shift=1)
    )


def load_aan(data_dir: Path, *, max_length: int = 4000, unescape: bool = False) -> TaskData:
    """AAN document matching at byte level (LRA "Retrieval"), a dual task.

    Items are ``(x1, x2, y)``; ids are ``byte + 1``; ``vocab_size = 257``.

    Parameters
    ----------
    data_dir : Path
        Data root (the LRA nesting levels are detected).
    max_length : int
        Bytes kept per document (LRA: 4000).
    unescape : bool
        The released texts are Python bytes literals (``b'...'``).  LRA feeds the
        literal text as it is (default, ``False``); ``True`` decodes the literals
        (with :func:`ast.literal_eval`, which evaluates literals only).
    """
    _check_length(max_length)
    files = [f"new_aan_pairs.{s}.tsv" for s in ("train", "eval", "test")]
    folder = find_lra_dir(data_dir, "tsv_data", files, _AAN_LAYOUT)
    train, val, test = (_read_aan(folder / f, max_length, unescape) for f in files)
    return TaskData(
        name="aan",
        train=train,
        val=val,
        test=test,
        n_classes=2,
        vocab_size=BYTE_VOCAB_SIZE,
        d_input=1,
        max_length=_longest(train.first, train.second, val.first, val.second, test.first, test.second),
        dual=True,
    )
