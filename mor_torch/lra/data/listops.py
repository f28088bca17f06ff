"""The ListOps generator of Long Range Arena, reimplemented.

Algorithm (Nangia & Bowman 2018 as used by LRA, ``lra_benchmarks/data/listops.py``):
a tree is grown recursively from depth 1.  At depth ``< max_depth`` a node is a
leaf with probability 0.75 (a digit uniform over 0..9), otherwise an operator
uniform over ``MIN, MAX, MED, SM`` with ``k`` arguments, ``k`` uniform over
``2..max_args``, each argument grown at depth + 1; at ``max_depth`` every node
is a leaf.  The length of a tree is its number of tokens: 1 for a leaf,
``1 + sum(argument lengths) + 1`` for an operator (operator and closing ``]``).
Trees with ``min_length < length < max_length`` are kept; duplicates (equal
serialisations) are dropped.  Values: ``MIN``, ``MAX``, ``MED = int(median)``
(for an even count, the mean of the middle two, truncated), ``SM = sum mod 10``.
A tree is serialised as LRA's nested pairs: ``[MAX 2 9]`` is
``( ( ( [MAX 2 ) 9 ) ] )``, i.e. ``((op, a0), a1), ..., ]`` with each pair
parenthesised.

Speed-up, same distribution: a tree is abandoned as soon as its running token
count reaches ``max_length``.  Its final length could only be larger, so it
would have been rejected anyway; the accepted trees are therefore distributed
exactly as under plain rejection sampling (only the random stream differs).
Without this, the branching process (mean 0.25 * 6 = 1.5 children per node, so
supercritical) spends most of its time on huge trees that are thrown away.

Determinism: one ``random.Random(seed)`` drives everything and trees are kept in
generation order (LRA iterated over a ``set``, whose order depends on the hash
seed), the first ``n_train`` forming the training split, the next ``n_val`` the
validation split and the last ``n_test`` the test split.
"""

from __future__ import annotations

import logging
import os
import random
import statistics
import time
from pathlib import Path

from ..errors import DataOptionError
from ..files import atomic_write_text

__all__ = ["LISTOPS_OPERATORS", "generate_listops", "sample_listops", "sample_listops_tree"]

logger = logging.getLogger(__name__)

LISTOPS_OPERATORS: tuple[str, ...] = ("[MIN", "[MAX", "[MED", "[SM")
_LEAF_PROBABILITY = 0.75
_MAX_DEPTH_LIMIT = 200  # recursion guard
_STALL_LIMIT = 1_000_000  # draws without a new tree before giving up
#: At most this many examples are generated (a typo such as n_train=10**12 fails at once).
_MAX_EXAMPLES = 10_000_000


class _TooLong(Exception):
    """Internal signal: the tree being grown has reached ``max_length`` tokens."""


def _apply(op: str, values: list[int]) -> int:
    if op == "[MIN":
        return min(values)
    if op == "[MAX":
        return max(values)
    if op == "[MED":
        return int(statistics.median(values))
    return sum(values) % 10


def sample_listops_tree(
    rng: random.Random, *, max_depth: int = 10, max_args: int = 10, max_length: int | None = None
) -> tuple[str, int, int] | None:
    """Grow one ListOps tree.

    Parameters
    ----------
    rng : random.Random
        Source of randomness (consumed).
    max_depth : int
        Nodes at this depth are leaves (the root has depth 1).
    max_args : int
        Operators take ``2..max_args`` arguments, uniformly.
    max_length : int or None
        Abandon the tree once it has ``max_length`` tokens (``None``: never).

    Returns
    -------
    (source, value, length) or None
        The LRA serialisation, the value in ``0..9`` and the number of tokens;
        ``None`` when the tree reached ``max_length`` tokens.
    """
    limit = max_length if max_length is not None else float("inf")
    count = 0
    rand = rng.random
    randrange = rng.randrange
    randint = rng.randint
    ops = LISTOPS_OPERATORS

    def grow(depth: int) -> tuple[str, int]:
        nonlocal count
        count += 1
        if count >= limit:
            raise _TooLong
        if depth >= max_depth or rand() >= 1.0 - _LEAF_PROBABILITY:
            digit = randrange(10)
            return str(digit), digit
        n_args = randint(2, max_args)
        op = ops[randrange(4)]
        parts = ["( " * (n_args + 1), op]
        values = []
        for _ in range(n_args):
            text, value = grow(depth + 1)
            parts.append(" ")
            parts.append(text)
            parts.append(" )")
            values.append(value)
        count += 1  # the closing ']'
        if count >= limit:
            raise _TooLong
        parts.append(" ] )")
        return "".join(parts), _apply(op, values)

    try:
        source, value = grow(1)
    except _TooLong:
        return None
    return source, value, count


def _check_options(n_train, n_val, n_test, min_length, max_length, max_depth, max_args) -> None:
    for name, val in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if not isinstance(val, int) or isinstance(val, bool) or val < 0:
            raise DataOptionError(f"{name} must be a non-negative int, got {val!r}")
    if n_train + n_val + n_test > _MAX_EXAMPLES:
        raise DataOptionError(
            f"n_train + n_val + n_test = {n_train + n_val + n_test} exceeds {_MAX_EXAMPLES:,} generated examples "
            "(the LRA ListOps release has 100,000)"
        )
    for name, val in (("min_length", min_length), ("max_length", max_length)):
        if not isinstance(val, int) or isinstance(val, bool) or val < 0:
            raise DataOptionError(f"{name} must be a non-negative int, got {val!r}")
    if max_length - min_length < 2:
        raise DataOptionError(
            f"no length satisfies min_length < length < max_length with min_length={min_length}, "
            f"max_length={max_length}"
        )
    if not isinstance(max_depth, int) or not 1 <= max_depth <= _MAX_DEPTH_LIMIT:
        raise DataOptionError(f"max_depth must be an int in [1, {_MAX_DEPTH_LIMIT}], got {max_depth!r}")
    if not isinstance(max_args, int) or max_args < 2:
        raise DataOptionError(f"max_args must be an int >= 2, got {max_args!r}")
    if max_depth == 1 and min_length >= 1:
        raise DataOptionError("max_depth=1 only produces single digits (length 1); lower min_length")


def sample_listops(
    n: int,
    *,
    min_length: int,
    max_length: int,
    max_depth: int = 10,
    max_args: int = 10,
    seed: int = 0,
    stall_limit: int = _STALL_LIMIT,
) -> list[tuple[str, int]]:
    """Draw ``n`` distinct ListOps expressions with ``min_length < length < max_length``.

    Parameters
    ----------
    n : int
        Number of distinct expressions.
    min_length, max_length : int
        Exclusive bounds on the number of tokens.
    max_depth, max_args : int
        Tree shape limits (LRA: 10 and 10).
    seed : int
        Seed of the ``random.Random`` stream; equal arguments give equal output.
    stall_limit : int
        Give up after this many consecutive draws without a new expression.

    Returns
    -------
    list of (str, int)
        ``(source, value)`` pairs in generation order.

    Raises
    ------
    DataOptionError
        Invalid options, or no new expression found in ``stall_limit`` consecutive draws
        (the requested count exceeds what the length window allows).
    """
    _check_options(n, 0, 0, min_length, max_length, max_depth, max_args)
    rng = random.Random(seed)
    found: dict[str, int] = {}
    draws = 0
    stall = 0
    t0 = time.perf_counter()
    while len(found) < n:
        if stall >= stall_limit:
            raise DataOptionError(
                f"found only {len(found)} of {n} distinct ListOps expressions with "
                f"{min_length} < length < {max_length} after {draws} draws; widen the length window"
            )
        draws += 1
        stall += 1
        tree = sample_listops_tree(rng, max_depth=max_depth, max_args=max_args, max_length=max_length)
        if tree is None:
            continue
        source, value, length = tree
        if length > min_length and source not in found:
            found[source] = value
            stall = 0
    logger.info("sampled %d ListOps expressions in %d draws (%.2f s)", n, draws, time.perf_counter() - t0)
    return list(found.items())


def _tsv(rows: list[tuple[str, int]]) -> str:
    lines = ["Source\tTarget"]
    lines.extend(f"{source}\t{value}" for source, value in rows)
    return "\n".join(lines) + "\n"


def generate_listops(
    path_dir: str | os.PathLike,
    *,
    n_train: int,
    n_val: int,
    n_test: int,
    min_length: int,
    max_length: int,
    max_depth: int = 10,
    max_args: int = 10,
    seed: int = 0,
) -> Path:
    """Generate a ListOps dataset in the LRA file format.

    Writes ``basic_train.tsv``, ``basic_val.tsv`` and ``basic_test.tsv`` (header
    ``Source<TAB>Target``, one expression and its value per line) into
    ``path_dir``, each atomically (temporary file, then rename).  The three
    splits are disjoint (see the module docstring for the algorithm).

    Parameters
    ----------
    path_dir : str or PathLike
        Output folder (created if missing).
    n_train, n_val, n_test : int
        Split sizes.
    min_length, max_length : int
        Exclusive bounds on the number of tokens (LRA: 500 and 2000).
    max_depth, max_args : int
        Tree shape limits (LRA: 10 and 10).
    seed : int
        Random seed; equal arguments give byte-identical files.

    Returns
    -------
    Path
        ``path_dir``.
    """
    _check_options(n_train, n_val, n_test, min_length, max_length, max_depth, max_args)
    rows = sample_listops(
        n_train + n_val + n_test,
        min_length=min_length,
        max_length=max_length,
        max_depth=max_depth,
        max_args=max_args,
        seed=seed,
    )
    out = Path(path_dir)
    out.mkdir(parents=True, exist_ok=True)
    splits = {
        "train": rows[:n_train],
        "val": rows[n_train : n_train + n_val],
        "test": rows[n_train + n_val :],
    }
    for split, split_rows in splits.items():
        atomic_write_text(out / f"basic_{split}.tsv", _tsv(split_rows))
    return out
