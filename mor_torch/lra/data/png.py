"""Reading PNG images as 8-bit grayscale arrays.

:func:`read_png_gray` uses Pillow when it is installed (it comes with
matplotlib) and otherwise :func:`decode_png_gray`, a small numpy/zlib decoder of
non-interlaced PNGs: every colour type, bit depths 1-16.  Both give the same
array (tests compare them).  Colour is converted with Pillow's ITU-R 601-2 luma
``L = (19595 R + 38470 G + 7471 B + 2**15) >> 16`` (i.e. ``0.299 R + 0.587 G +
0.114 B`` rounded); alpha is ignored; 16-bit samples keep their high byte and
1/2/4-bit gray is scaled to 0..255.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from ..errors import DatasetFormatError

__all__ = ["check_png", "decode_png_gray", "read_png_gray"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}

try:
    from PIL import Image as _PILImage
except ImportError:  # pragma: no cover - exercised only without Pillow
    _PILImage = None


def _luma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.uint32) for i in range(3))
    return ((19595 * r + 38470 * g + 7471 * b + 0x8000) >> 16).astype(np.uint8)


def _unfilter(raw: bytes, height: int, stride: int, bpp: int, where: str) -> np.ndarray:
    """Undo the per-row PNG filters; returns the (height, stride) uint8 scanlines."""
    if len(raw) != height * (stride + 1):
        raise DatasetFormatError(f"{where}: image data has {len(raw)} bytes, expected {height * (stride + 1)}")
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1)
    out = np.empty((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        ftype = int(rows[y, 0])
        line = rows[y, 1:]
        if ftype == 0:  # None
            cur = line.copy()
        elif ftype == 1:  # Sub: cur[i] = line[i] + cur[i - bpp]
            cur = (np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.int64) % 256).astype(np.uint8).ravel()
        elif ftype == 2:  # Up: cur[i] = line[i] + prev[i]
            cur = line + prev
        elif ftype in (3, 4):  # Average / Paeth: sequential along the row
            cur_l = [0] * stride
            line_l = line.tolist()
            prev_l = prev.tolist()
            for i in range(stride):
                a = cur_l[i - bpp] if i >= bpp else 0
                b = prev_l[i]
                if ftype == 3:
                    pred = (a + b) >> 1
                else:
                    c = prev_l[i - bpp] if i >= bpp else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
                cur_l[i] = (line_l[i] + pred) & 0xFF
            cur = np.array(cur_l, dtype=np.uint8)
        else:
            raise DatasetFormatError(f"{where}: unknown PNG filter type {ftype} in row {y}")
        out[y] = cur
        prev = cur
    return out


def decode_png_gray(data: bytes, where: str = "<bytes>") -> np.ndarray:
    """Decode a PNG file to 8-bit grayscale.

    Parameters
    ----------
    data : bytes
        The whole PNG file.
    where : str
        Name used in error messages.

    Returns
    -------
    ndarray of uint8, shape (height, width)

    Raises
    ------
    DatasetFormatError
        Not a PNG, a bad chunk CRC, interlacing, or an unsupported bit depth.
    """
    if not data.startswith(_SIGNATURE):
        raise DatasetFormatError(f"{where}: not a PNG file ({len(data)} bytes, bad signature)")
    pos = len(_SIGNATURE)
    header = None
    palette = None
    idat = []
    while True:
        if pos + 8 > len(data):
            raise DatasetFormatError(f"{where}: truncated PNG (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        crc = data[pos + 8 + length : pos + 12 + length]
        if len(body) != length or len(crc) != 4:
            raise DatasetFormatError(f"{where}: truncated PNG chunk {ctype!r}")
        if zlib.crc32(ctype + body) != struct.unpack(">I", crc)[0]:
            raise DatasetFormatError(f"{where}: CRC mismatch in PNG chunk {ctype!r}")
        pos += 12 + length
        if ctype == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif ctype == b"PLTE":
            palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
    if header is None:
        raise DatasetFormatError(f"{where}: PNG without IHDR chunk")
    width, height, depth, color, _, _, interlace = header
    if color not in _CHANNELS or depth not in _DEPTHS[color]:
        raise DatasetFormatError(f"{where}: invalid PNG colour type {color} with bit depth {depth}")
    if interlace:
        raise DatasetFormatError(f"{where}: interlaced PNGs are not supported")
    if color == 3 and palette is None:
        raise DatasetFormatError(f"{where}: palette PNG without PLTE chunk")
    channels = _CHANNELS[color]
    bits = channels * depth
    stride = (width * bits + 7) // 8
    bpp = max(1, bits // 8)
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as exc:
        raise DatasetFormatError(f"{where}: corrupt PNG image data ({exc})") from None
    lines = _unfilter(raw, height, stride, bpp, where)
    if depth < 8:
        samples = np.unpackbits(lines, axis=1).reshape(height, -1, depth)
        weights = (1 << np.arange(depth - 1, -1, -1)).astype(np.uint8)
        values = (samples * weights).sum(axis=2, dtype=np.uint16)[:, :width]
        if color == 3:
            return _luma(palette[values])
        return (values * (255 // ((1 << depth) - 1))).astype(np.uint8)
    if depth == 16:
        pixels = lines.reshape(height, width, channels, 2)[..., 0]  # high byte
    else:
        pixels = lines.reshape(height, width, channels)
    if color == 3:
        if pixels[..., 0].max(initial=0) >= len(palette):
            raise DatasetFormatError(f"{where}: palette index out of range")
        return _luma(palette[pixels[..., 0]])
    if color in (0, 4):
        return np.ascontiguousarray(pixels[..., 0])
    return _luma(pixels[..., :3])


def read_png_gray(path: str | Path, *, use_pillow: bool | None = None) -> np.ndarray:
    """Read a PNG file as 8-bit grayscale.

    Parameters
    ----------
    path : str or Path
    use_pillow : bool or None
        ``None``: Pillow when installed, else :func:`decode_png_gray`.

    Returns
    -------
    ndarray of uint8, shape (height, width)

    Raises
    ------
    DatasetFormatError
        The file is empty or not a decodable PNG.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data:
        raise DatasetFormatError(f"{path}: empty image file")
    if use_pillow is None:
        use_pillow = _PILImage is not None
    # 16-bit samples: Pillow's modes differ by colour type, so decode them here.
    if not use_pillow or (data.startswith(_SIGNATURE) and len(data) > 24 and data[24] == 16):
        return decode_png_gray(data, str(path))
    try:
        with _PILImage.open(io.BytesIO(data), formats=["PNG"]) as img:
            return np.asarray(img.convert("L"), dtype=np.uint8)
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError...)
        raise DatasetFormatError(f"{path}: cannot decode PNG ({type(exc).__name__}: {exc})") from None


_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the 12-byte end chunk of every PNG


def check_png(path: str | Path, shape: tuple[int, int] | None = None) -> bool:
    """Cheap check of a PNG file without decoding it: signature, size, end chunk.

    Reads the first 33 bytes (signature and ``IHDR``) and the last 12 (the ``IEND`` chunk), so a
    loader can reject a damaged image when it starts instead of when training reaches it.

    Parameters
    ----------
    path : str or Path
        A regular file (the caller resolves symbolic links).
    shape : (height, width), optional
        The size the image must have.

    Returns
    -------
    bool
        ``False`` for an empty file (callers skip those), ``True`` for a file that passes.

    Raises
    ------
    DatasetFormatError
        Not a PNG (signature, header chunk), truncated (no ``IEND`` chunk at the end), or of the
        wrong size; the message names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(33)
            if not head:
                return False
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(size - 12, 0))
            tail = fh.read(12)
    except OSError as exc:
        raise DatasetFormatError(f"{path}: cannot read the image ({exc.strerror or exc})") from None
    if not head.startswith(_SIGNATURE) or head[12:16] != b"IHDR":
        raise DatasetFormatError(f"{path}: not a PNG file (no PNG signature and IHDR header)")
    if tail != _IEND:
        raise DatasetFormatError(f"{path}: truncated PNG file ({size} bytes, no IEND chunk at the end)")
    width, height = struct.unpack(">II", head[16:24])
    if shape is not None and (height, width) != tuple(shape):
        raise DatasetFormatError(f"{path}: expected a {shape[0]} x {shape[1]} image, got {height} x {width}")
    return True
