"""IMDB and AAN at byte level: real directory trees and TSVs written in tmp_path."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra.data import DataOptionError, DatasetFormatError, DatasetNotFoundError, collate, load_task  # noqa: E402

REVIEWS = {
    ("train", "pos"): {"10_9.txt": b"Great film!", "2_8.txt": "caf\u00e9 \u2665".encode(), "7_10.txt": b"x"},
    ("train", "neg"): {"0_1.txt": b"Awful.", "11_3.txt": b"meh <br /> no"},
    ("test", "pos"): {"5_7.txt": b"good"},
    ("test", "neg"): {"3_2.txt": b"bad bad bad", "4_4.txt": b"\x00\xff"},
}


def write_imdb(root):
    for (split, polarity), files in REVIEWS.items():
        folder = root / "aclImdb" / split / polarity
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_bytes(b"unlabelled")
    (root / "aclImdb" / "train" / "urls_pos.txt").write_bytes(b"http://x")
    (root / "aclImdb" / "imdb.vocab").write_bytes(b"the\n")


def ids(data):
    return [b + 1 for b in data]


def test_imdb_bytes_labels_order(tmp_path):
    write_imdb(tmp_path)
    task = load_task("imdb", tmp_path)
    assert (task.n_classes, task.vocab_size, task.d_input, task.dual) == (2, 257, 1, False)
    assert [len(task.train), len(task.val), len(task.test)] == [5, 3, 3]
    assert task.val is task.test  # LRA: test doubles as validation
    expected = [
        (b"Awful.", 0),
        (b"meh <br /> no", 0),
        ("caf\u00e9 \u2665".encode(), 1),
        (b"x", 1),
        (b"Great film!", 1),
    ]  # neg then pos, each sorted by numeric id
    for i, (data, label) in enumerate(expected):
        x, y = task.train[i]
        assert x.dtype == torch.int64 and x.tolist() == ids(data) and y == label
    assert task.test[1][0].tolist() == [1, 256]  # bytes 0x00 and 0xff
    assert task.max_length == len(b"meh <br /> no")


def test_imdb_truncation_and_val_split(tmp_path):
    write_imdb(tmp_path)
    task = load_task("imdb", tmp_path, max_length=4)
    assert task.train[4][0].tolist() == ids(b"Grea")
    assert task.max_length == 4
    a = load_task("imdb", tmp_path, val_fraction=0.4, seed=1)
    b = load_task("imdb", tmp_path, val_fraction=0.4, seed=1)
    assert [len(a.train), len(a.val), len(a.test)] == [3, 2, 3]
    seen = sorted(tuple(a.train[i][0].tolist()) for i in range(3)) + [tuple(a.val[i][0].tolist()) for i in range(2)]
    full = load_task("imdb", tmp_path)
    assert sorted(seen) == sorted(tuple(full.train[i][0].tolist()) for i in range(5))
    for i in range(2):
        assert torch.equal(a.val[i][0], b.val[i][0])
    with pytest.raises(DataOptionError, match="val_fraction"):
        load_task("imdb", tmp_path, val_fraction=1.5)


def test_imdb_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="aclImdb"):
        load_task("imdb", tmp_path)
    write_imdb(tmp_path)
    (tmp_path / "aclImdb" / "test" / "pos" / "5_7.txt").rename(tmp_path / "aclImdb" / "test" / "pos" / "r.txt")
    with pytest.raises(DatasetFormatError, match=r"r\.txt.*<id>_<rating>\.txt"):
        load_task("imdb", tmp_path)


# ---------------------------------------------------------------- AAN

AAN = {
    "train": [
        b"1\tid/a\tid/b\tb'Paper one text.'\tb'Second \\xc3\\xa9 doc'",
        b"0.0\tid/c\tid/d\tplain text\tb'x'",
        b"1.0\tid/e\tid/f\tabcdefgh\tij",
    ],
    "eval": [b"0\tid/g\tid/h\tq\tr"],
    "test": [b"1\tid/i\tid/j\tlong document\tz"],
}


def write_aan(folder, rows=AAN, newline=b"\n"):
    folder.mkdir(parents=True, exist_ok=True)
    for split, lines in rows.items():
        (folder / f"new_aan_pairs.{split}.tsv").write_bytes(newline.join(lines) + newline)


@pytest.mark.parametrize(
    "nesting", [("lra_release", "lra_release"), ("lra_release",), ()], ids=["double", "single", "flat"]
)
def test_aan_dual_items(tmp_path, nesting):
    write_aan(tmp_path.joinpath(*nesting, "tsv_data"), newline=b"\r\n")
    task = load_task("aan", tmp_path)
    assert (task.dual, task.n_classes, task.vocab_size, task.d_input) == (True, 2, 257, 1)
    assert [len(task.train), len(task.val), len(task.test)] == [3, 1, 1]
    x1, x2, y = task.train[0]
    assert x1.tolist() == ids(b"b'Paper one text.'") and x2.tolist() == ids(b"b'Second \\xc3\\xa9 doc'")
    assert y == 1
    assert [task.train[i][2] for i in range(3)] == [1, 0, 1]
    assert task.max_length == len(b"b'Second \\xc3\\xa9 doc'")


def test_aan_unescape_truncate_collate(tmp_path):
    write_aan(tmp_path / "tsv_data")
    task = load_task("aan", tmp_path, unescape=True, max_length=6)
    x1, x2, _ = task.train[0]
    assert x1.tolist() == ids(b"Paper ")
    assert x2.tolist() == ids("Second \u00e9 doc".encode()[:6])
    assert task.train[1][0].tolist() == ids(b"plain ")  # not a literal: unchanged
    batch = collate([task.train[i] for i in range(3)])
    assert set(batch) == {"x", "lengths", "x2", "lengths2", "y"}
    assert batch["x"].shape == batch["x2"].shape == (3, 6)
    assert batch["lengths"].tolist() == [6, 6, 6] and batch["lengths2"].tolist() == [6, 1, 2]
    assert batch["y"].tolist() == [1, 0, 1]
    assert not batch["x2"][1, 1:].any()


@pytest.mark.parametrize(
    ("line", "match"),
    [
        (b"1\tid/a\tid/b\tonly four", "expected 5 tab-separated fields"),
        (b"2\tid/a\tid/b\tt1\tt2", "not 0 or 1"),
        (b"yes\tid/a\tid/b\tt1\tt2", "not a number"),
        (b"1\tid/a\tid/b\tb'unterminated \\'\tt2", "malformed bytes literal"),
    ],
)
def test_aan_malformed(tmp_path, line, match):
    write_aan(tmp_path / "tsv_data", {**AAN, "eval": [*AAN["eval"], line]})
    with pytest.raises(DatasetFormatError, match=r"new_aan_pairs\.eval\.tsv:2: .*" + match):
        load_task("aan", tmp_path, unescape=True)


def test_aan_missing(tmp_path):
    write_aan(tmp_path / "tsv_data", {"train": AAN["train"]})
    with pytest.raises(DatasetNotFoundError) as info:
        load_task("aan", tmp_path)
    assert "new_aan_pairs.eval.tsv" in str(info.value) and "lra_release" in str(info.value)


def test_token_dataset_storage_is_compact(tmp_path):
    write_imdb(tmp_path)
    task = load_task("imdb", tmp_path)
    assert task.train.flat.dtype == np.uint8
    assert task.train.lengths.tolist() == [6, 13, 9, 1, 11]
