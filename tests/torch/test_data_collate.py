"""collate / pad_sequences and the dataset containers."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra.data import (  # noqa: E402
    ImageDataset,
    PairTokenDataset,
    TaskData,
    TokenDataset,
    collate,
    pad_sequences,
    task_options,
)
from mor_torch.lra.data.datasets import pack_sequences  # noqa: E402
from mor_torch.lra.errors import DatasetFormatError  # noqa: E402


def token_ds(seqs, labels, shift=0):
    flat, offsets = pack_sequences([np.array(s, dtype=np.uint8) for s in seqs])
    return TokenDataset(flat, offsets, np.array(labels), shift=shift)


def test_collate_tokens_pads_with_zero():
    ds = token_ds([[3, 4, 5], [7], [1, 2, 3, 4, 5]], [2, 0, 9])
    batch = collate([ds[i] for i in range(3)])
    assert set(batch) == {"x", "lengths", "y"}
    assert batch["x"].dtype == torch.int64 and batch["x"].tolist() == [
        [3, 4, 5, 0, 0],
        [7, 0, 0, 0, 0],
        [1, 2, 3, 4, 5],
    ]
    assert batch["lengths"].dtype == torch.int64 and batch["lengths"].tolist() == [3, 1, 5]
    assert batch["y"].dtype == torch.int64 and batch["y"].tolist() == [2, 0, 9]


def test_byte_shift_and_negative_index():
    ds = token_ds([[0, 255], [65]], [1, 0], shift=1)
    assert ds[0][0].tolist() == [1, 256]
    assert ds[-1][0].tolist() == [66] and ds[-1][1] == 0
    with pytest.raises(IndexError):
        ds[2]
    assert ds.lengths.tolist() == [2, 1]


def test_collate_real_valued_and_tensor_labels():
    a = torch.arange(6, dtype=torch.float32).reshape(3, 2)
    b = torch.ones(1, 2)
    batch = collate([(a, torch.tensor(1)), (b, 4)])
    assert batch["x"].shape == (2, 3, 2) and batch["x"].dtype == torch.float32
    assert torch.equal(batch["x"][0], a) and torch.equal(batch["x"][1, 0], b[0]) and not batch["x"][1, 1:].any()
    assert batch["lengths"].tolist() == [3, 1] and batch["y"].tolist() == [1, 4]


def test_collate_dual_pads_both_to_one_length():
    first = token_ds([[1, 2], [3]], [1, 0])
    second = token_ds([[4], [5, 6, 7]], [1, 0])
    pairs = PairTokenDataset(first, second)
    batch = collate([pairs[0], pairs[1]])
    assert batch["x"].tolist() == [[1, 2, 0], [3, 0, 0]]
    assert batch["x2"].tolist() == [[4, 0, 0], [5, 6, 7]]
    assert batch["lengths"].tolist() == [2, 1] and batch["lengths2"].tolist() == [1, 3]
    assert batch["y"].tolist() == [1, 0]
    with pytest.raises(DatasetFormatError):
        PairTokenDataset(first, token_ds([[1]], [1]))


def test_collate_errors():
    with pytest.raises(DatasetFormatError, match="empty"):
        collate([])
    with pytest.raises(DatasetFormatError, match="trailing shape and dtype"):
        collate([(torch.zeros(3, dtype=torch.int64), 0), (torch.zeros(3, 1), 1)])
    with pytest.raises(DatasetFormatError, match=r"\(x, y\)"):
        collate([(torch.zeros(3, dtype=torch.int64), 0), (torch.zeros(3, dtype=torch.int64),)])
    with pytest.raises(DatasetFormatError, match="shorter"):
        pad_sequences([torch.zeros(4)], length=2)
    with pytest.raises(DatasetFormatError, match="token ids or"):
        collate([(torch.zeros(2, 2, 2), 0)])


def test_datasets_pickle_and_dataloader():
    ds = token_ds([[1, 2, 3], [4, 5], [6]], [0, 1, 0])
    clone = pickle.loads(pickle.dumps(ds))
    assert torch.equal(clone[1][0], ds[1][0])
    images = ImageDataset(torch.rand(4, 16, 1), np.array([0, 1, 1, 0]))
    loader = torch.utils.data.DataLoader(images, batch_size=3, collate_fn=collate)
    shapes = [tuple(b["x"].shape) for b in loader]
    assert shapes == [(3, 16, 1), (1, 16, 1)]
    with pytest.raises(DatasetFormatError):
        ImageDataset(torch.rand(4, 16), np.zeros(4))
    task = TaskData("t", ds, ds, ds, n_classes=2, vocab_size=7, d_input=1, max_length=3)
    assert task.dual is False
    with pytest.raises(AttributeError):
        task.name = "other"  # frozen


def test_task_options_lists_defaults():
    assert task_options("pathfinder")["resolution"] == 32
    assert task_options("pathfinder")["split"] == "curv_contour_length_14"
    assert task_options("imdb")["max_length"] == 2048
    assert task_options("aan")["max_length"] == 4000
    assert task_options("listops")["max_length"] == 2000
    assert set(task_options("listops-mini")) == {
        "n_train",
        "n_val",
        "n_test",
        "min_length",
        "max_length",
        "max_depth",
        "max_args",
        "seed",
    }
