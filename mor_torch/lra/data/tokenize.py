"""Tokenisers: the fixed ListOps vocabulary and byte-level text.

ListOps (as the LRA input pipeline): ``]`` becomes ``X``, ``(`` and ``)`` are
deleted, the rest is split on whitespace.  Token ids (``vocab_size = 16``)::

    0 pad | 1..10 digits "0".."9" | 11 "[MIN" | 12 "[MAX" | 13 "[MED" | 14 "[SM" | 15 "X"

An unknown token is an error (:class:`DatasetFormatError`), not an UNK id: the
LRA ListOps files hold only these tokens, so anything else means a wrong file.

Byte level (IMDB, AAN): byte ``b`` gets id ``b + 1``, 0 is padding, ``vocab_size = 257``.
"""

from __future__ import annotations

import numpy as np

from ..errors import DatasetFormatError

__all__ = [
    "BYTE_VOCAB_SIZE",
    "LISTOPS_TOKENS",
    "LISTOPS_VOCAB",
    "LISTOPS_VOCAB_SIZE",
    "PAD_ID",
    "encode_bytes",
    "listops_ids",
    "listops_tokens",
]

PAD_ID = 0
#: ListOps tokens in id order, starting at id 1 (id 0 is padding).
LISTOPS_TOKENS: tuple[str, ...] = (*(str(d) for d in range(10)), "[MIN", "[MAX", "[MED", "[SM", "X")
LISTOPS_VOCAB: dict[str, int] = {tok: i + 1 for i, tok in enumerate(LISTOPS_TOKENS)}
LISTOPS_VOCAB_SIZE = len(LISTOPS_TOKENS) + 1
BYTE_VOCAB_SIZE = 257

_LISTOPS_TRANSLATION = str.maketrans({"]": "X", "(": None, ")": None})


def listops_tokens(source: str) -> list[str]:
    """Split a ListOps source string into tokens (``]`` -> ``X``, parentheses deleted).

    Parameters
    ----------
    source : str
        For example ``"( ( ( [MAX 2 ) 9 ) ] )"``.

    Returns
    -------
    list of str
        For the example, ``["[MAX", "2", "9", "X"]``.
    """
    return source.translate(_LISTOPS_TRANSLATION).split()


def listops_ids(source: str, where: str = "<string>") -> np.ndarray:
    """Token ids of a ListOps source string.

    Parameters
    ----------
    source : str
        A ListOps expression in the LRA serialisation.
    where : str
        Location (file and line) named in the error message.

    Returns
    -------
    ndarray of uint8, shape (L,)
        Ids in ``[1, 16)`` (see the module docstring).

    Raises
    ------
    DatasetFormatError
        A token outside the vocabulary.
    """
    tokens = listops_tokens(source)
    try:
        return np.fromiter(map(LISTOPS_VOCAB.__getitem__, tokens), dtype=np.uint8, count=len(tokens))
    except KeyError as exc:
        raise DatasetFormatError(
            f"{where}: unknown ListOps token {exc.args[0]!r}; the vocabulary is {list(LISTOPS_TOKENS)} "
            "(after ']' -> 'X' and deleting '(' ')')"
        ) from None


def encode_bytes(data: bytes, max_length: int | None) -> np.ndarray:
    """Raw bytes of a document, truncated; the stored form of byte-level tokens.

    The dataset adds 1 when it hands an item out, so byte ``b`` becomes id ``b + 1``.

    Parameters
    ----------
    data : bytes
        The document.
    max_length : int or None
        Keep the first ``max_length`` bytes (``None``: all).

    Returns
    -------
    ndarray of uint8, shape (min(len(data), max_length),)
    """
    if max_length is not None:
        data = data[:max_length]
    return np.frombuffer(data, dtype=np.uint8)
