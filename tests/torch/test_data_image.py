"""CIFAR-10 (real pickles, restricted unpickling), Pathfinder (real PNGs) and the PNG decoder."""

import os
import pickle
import struct
import zlib

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra.data import (  # noqa: E402
    DataOptionError,
    DatasetFormatError,
    DatasetNotFoundError,
    collate,
    load_task,
)
from mor_torch.lra.data.png import decode_png_gray, read_png_gray  # noqa: E402
from mor_torch.lra.data.safe_pickle import load_restricted_pickle  # noqa: E402

# ---------------------------------------------------------------- a PNG writer with every filter type


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def png_bytes(pixels, color_type=0, bit_depth=8, filters=(0, 1, 2, 3, 4), palette=None):
    """Encode ``pixels`` (H, W[, C]) as a PNG; row y uses filter ``filters[y % len(filters)]``."""
    pixels = np.asarray(pixels)
    height, width = pixels.shape[:2]
    if bit_depth == 16:
        lines = pixels.astype(">u2").reshape(height, -1).view(np.uint8).reshape(height, -1)
    elif bit_depth < 8:
        bits = np.unpackbits(pixels.astype(np.uint8)[..., None], axis=-1)[..., 8 - bit_depth :]
        lines = np.packbits(bits.reshape(height, -1), axis=1)
    else:
        lines = pixels.astype(np.uint8).reshape(height, -1)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    bpp = max(1, channels * bit_depth // 8)
    raw = bytearray()
    prev = [0] * lines.shape[1]
    for y, line in enumerate(lines.tolist()):
        f = filters[y % len(filters)]
        out = []
        for i, x in enumerate(line):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            pred = [0, a, b, (a + b) // 2, _paeth(a, b, c)][f]
            out.append((x - pred) % 256)
        raw += bytes([f, *out])
        prev = line

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    body = chunk(b"IHDR", header)
    if palette is not None:
        body += chunk(b"PLTE", np.asarray(palette, dtype=np.uint8).tobytes())
    data = zlib.compress(bytes(raw))
    body += chunk(b"IDAT", data[: len(data) // 2]) + chunk(b"IDAT", data[len(data) // 2 :])
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def luma(rgb):
    rgb = rgb.astype(np.int64)
    return ((19595 * rgb[..., 0] + 38470 * rgb[..., 1] + 7471 * rgb[..., 2] + 32768) >> 16).astype(np.uint8)


RNG = np.random.default_rng(0)


def test_png_decoder_every_filter_and_colour_type():
    gray = RNG.integers(0, 256, (9, 7), dtype=np.uint8)
    gray[3] = 255  # a constant row exercises wrap-around in the predictors
    assert np.array_equal(decode_png_gray(png_bytes(gray)), gray)
    for f in range(5):
        assert np.array_equal(decode_png_gray(png_bytes(gray, filters=(f,))), gray)
    rgb = RNG.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    assert np.array_equal(decode_png_gray(png_bytes(rgb, color_type=2)), luma(rgb))
    rgba = RNG.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    assert np.array_equal(decode_png_gray(png_bytes(rgba, color_type=6)), luma(rgba))
    la = RNG.integers(0, 256, (4, 3, 2), dtype=np.uint8)
    assert np.array_equal(decode_png_gray(png_bytes(la, color_type=4)), la[..., 0])
    g16 = RNG.integers(0, 65536, (5, 4)).astype(np.uint16)
    assert np.array_equal(decode_png_gray(png_bytes(g16, bit_depth=16)), (g16 >> 8).astype(np.uint8))
    g4 = RNG.integers(0, 16, (5, 7), dtype=np.uint8)
    assert np.array_equal(decode_png_gray(png_bytes(g4, bit_depth=4)), g4 * 17)
    g1 = RNG.integers(0, 2, (3, 11), dtype=np.uint8)
    assert np.array_equal(decode_png_gray(png_bytes(g1, bit_depth=1)), g1 * 255)
    pal = RNG.integers(0, 256, (4, 3), dtype=np.uint8)
    idx = RNG.integers(0, 4, (5, 6), dtype=np.uint8)
    assert np.array_equal(decode_png_gray(png_bytes(idx, color_type=3, palette=pal)), luma(pal[idx]))
    assert np.array_equal(decode_png_gray(png_bytes(idx, 3, 2, palette=pal)), luma(pal[idx]))


def test_png_errors(tmp_path):
    good = png_bytes(np.zeros((4, 4), np.uint8))
    with pytest.raises(DatasetFormatError, match="signature"):
        decode_png_gray(b"GIF89a" + good[6:])
    bad_crc = bytearray(good)
    bad_crc[-20] ^= 0xFF  # inside the last IDAT body
    with pytest.raises(DatasetFormatError, match="CRC"):
        decode_png_gray(bytes(bad_crc))
    with pytest.raises(DatasetFormatError, match="truncated"):
        decode_png_gray(good[:30])
    (tmp_path / "empty.png").write_bytes(b"")
    for use_pillow in (False, True):
        with pytest.raises(DatasetFormatError, match="empty image"):
            read_png_gray(tmp_path / "empty.png", use_pillow=use_pillow)


def test_pillow_path_matches_the_decoder(tmp_path):
    Image = pytest.importorskip("PIL.Image")
    cases = {
        "L": RNG.integers(0, 256, (16, 16), dtype=np.uint8),
        "RGB": RNG.integers(0, 256, (8, 9, 3), dtype=np.uint8),
        "RGBA": RNG.integers(0, 256, (8, 9, 4), dtype=np.uint8),
        "LA": RNG.integers(0, 256, (8, 9, 2), dtype=np.uint8),
    }
    for mode, arr in cases.items():
        path = tmp_path / f"{mode}.png"
        pil = Image.fromarray(arr)
        assert pil.mode == mode
        pil.save(path)
        ours = read_png_gray(path, use_pillow=False)
        assert np.array_equal(read_png_gray(path, use_pillow=True), ours), mode
        if mode == "L":
            assert np.array_equal(ours, arr)
    pal = Image.fromarray(cases["RGB"]).quantize(colors=7)
    pal.save(tmp_path / "P.png")
    assert np.array_equal(
        read_png_gray(tmp_path / "P.png", use_pillow=True), read_png_gray(tmp_path / "P.png", use_pillow=False)
    )
    bw = Image.fromarray(RNG.integers(0, 2, (8, 13), dtype=np.uint8) * 255).convert("1")
    bw.save(tmp_path / "1.png")
    assert np.array_equal(
        read_png_gray(tmp_path / "1.png", use_pillow=True), read_png_gray(tmp_path / "1.png", use_pillow=False)
    )


# ---------------------------------------------------------------- CIFAR-10


def py2_cifar_pickle(data, labels):
    """A CIFAR batch as Python 2's cPickle wrote it (protocol 2, ``str`` as BINSTRING)."""

    def s(b):
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<i", len(b)) + b

    def i(v):
        return b"J" + struct.pack("<i", v)

    dtype = (
        b"cnumpy\ndtype\n" + s(b"u1") + i(0) + i(1) + b"\x87R(" + i(3) + s(b"|") + b"NNN" + i(-1) + i(-1) + i(0) + b"tb"
    )
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\n"
        + b"cnumpy\nndarray\n"
        + i(0)
        + b"\x85"
        + s(b"b")
        + b"\x87R"
        + b"("
        + i(1)
        + i(data.shape[0])
        + i(data.shape[1])
        + b"\x86"
        + dtype
        + b"\x89"
        + s(data.tobytes())
        + b"tb"
    )
    labels_p = b"](" + b"".join(i(v) for v in labels) + b"e"
    return (
        b"\x80\x02}("
        + s(b"batch_label")
        + s(b"training batch 1 of 5")
        + s(b"data")
        + array
        + s(b"labels")
        + labels_p
        + s(b"filenames")
        + b"]("
        + b"".join(s(f"img_{k}.png".encode()) for k in range(len(labels)))
        + b"e"
        + b"u."
    )


def make_cifar(root, n=6, n_test=5, protocols=("py2", 2, 4, 3, 5)):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for k, proto in enumerate([*protocols, "py2"], start=1):
        name = f"data_batch_{k}" if k <= 5 else "test_batch"
        m = n if k <= 5 else n_test
        data = RNG.integers(0, 256, (m, 3072), dtype=np.uint8)
        labels = [int(v) for v in RNG.integers(0, 10, m)]
        if proto == "py2":
            blob = py2_cifar_pickle(data, labels)
        else:
            blob = pickle.dumps({b"batch_label": b"b", b"data": data, b"labels": labels}, protocol=proto)
        (folder / name).write_bytes(blob)
        batches[name] = (data, labels)
    return batches


def test_py2_pickle_round_trip(tmp_path):
    data = RNG.integers(0, 256, (3, 3072), dtype=np.uint8)
    (tmp_path / "b").write_bytes(py2_cifar_pickle(data, [1, 2, 3]))
    obj = load_restricted_pickle(tmp_path / "b")
    assert obj[b"labels"] == [1, 2, 3] and np.array_equal(obj[b"data"], data)
    assert obj[b"filenames"][0] == b"img_0.png"
    # the same bytes load with the standard unpickler (checks the hand-written encoder)
    ref = pickle.loads((tmp_path / "b").read_bytes(), encoding="bytes")
    assert np.array_equal(ref[b"data"], data)


def test_cifar_grayscale_split_and_labels(tmp_path):
    batches = make_cifar(tmp_path)
    task = load_task("cifar", tmp_path, val_fraction=0.2, seed=3)
    assert (task.n_classes, task.vocab_size, task.d_input, task.max_length) == (10, None, 1, 1024)
    assert [len(task.train), len(task.val), len(task.test)] == [24, 6, 5]
    data = np.concatenate([batches[f"data_batch_{k}"][0] for k in range(1, 6)])
    labels = [v for k in range(1, 6) for v in batches[f"data_batch_{k}"][1]]
    r, g, b = (data[:, c * 1024 : (c + 1) * 1024].astype(np.float64) for c in range(3))
    gray = (0.299 * r + 0.587 * g + 0.114 * b) / 255
    seen = []
    for ds in (task.train, task.val):
        for k in range(len(ds)):
            x, y = ds[k]
            assert x.shape == (1024, 1) and x.dtype == torch.float32
            (j,) = np.flatnonzero(np.abs(gray - x[:, 0].numpy()).max(axis=1) < 1e-6)
            assert labels[j] == y
            seen.append(j)
    assert sorted(seen) == list(range(30))  # a partition of the 50k-style training pool
    x, y = task.test[2]
    test_data, test_labels = batches["test_batch"]
    rt, gt, bt = (test_data[2, c * 1024 : (c + 1) * 1024] / 255 for c in range(3))
    np.testing.assert_allclose(x[:, 0].numpy(), 0.299 * rt + 0.587 * gt + 0.114 * bt, rtol=1e-6)
    assert y == test_labels[2]
    again = load_task("cifar", tmp_path, val_fraction=0.2, seed=3)
    assert torch.equal(again.val[0][0], task.val[0][0])
    norm = load_task("cifar", tmp_path, val_fraction=0.2, seed=3, normalize=True)
    np.testing.assert_allclose(norm.test[2][0], (x - 122.6 / 255) / (61.0 / 255), rtol=1e-5, atol=1e-6)
    batch = collate([task.train[k] for k in range(4)])
    assert batch["x"].shape == (4, 1024, 1) and batch["lengths"].tolist() == [1024] * 4


class _Evil:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("payload", ["system", "eval"])
def test_cifar_refuses_malicious_pickle(tmp_path, payload):
    make_cifar(tmp_path)
    marker = tmp_path / "pwned"
    evil = _Evil(f"touch {marker}") if payload == "system" else _EvalEvil()
    blob = pickle.dumps({b"data": evil, b"labels": [0]}, protocol=2)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(blob)
    with pytest.raises(
        DatasetFormatError, match=r"data_batch_3: refusing to unpickle global (posix|os|__builtin__|builtins)"
    ):
        load_task("cifar", tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ([1, 2], "expected a dict"),
        ({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, "uint8 array"),
        ({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, r"shape \(n, 3072\)"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, "label 10 of image 1 is outside 0..9"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, "2 images but 1 labels"),
    ],
)
def test_cifar_malformed(tmp_path, obj, match):
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(DatasetFormatError, match=match):
        load_task("cifar", tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(b"not a pickle")
    with pytest.raises(DatasetFormatError, match="test_batch"):
        load_task("cifar", tmp_path)


def test_cifar_without_validation_split_fails_at_load(tmp_path):
    make_cifar(tmp_path)
    with pytest.raises(DataOptionError, match="has an empty val split"):  # not after training started
        load_task("cifar", tmp_path, val_fraction=0.0)


def test_cifar_missing(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-batches-py"):
        load_task("cifar", tmp_path)
    make_cifar(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(DatasetNotFoundError, match="data_batch_4"):
        load_task("cifar", tmp_path)


# ---------------------------------------------------------------- Pathfinder


def make_pathfinder(root, res=32, split="curv_contour_length_14", n=10, empty=True):
    base = root / f"pathfinder{res}" / split
    images = {}
    for b in range(2):
        (base / "imgs" / str(b)).mkdir(parents=True)
        (base / "metadata").mkdir(exist_ok=True)
        lines = []
        for k in range(n // 2):
            img = RNG.integers(0, 256, (res, res), dtype=np.uint8)
            label = (b + k) % 2
            (base / "imgs" / str(b) / f"sample_{k}.png").write_bytes(png_bytes(img))
            lines.append(f"imgs/{b} sample_{k}.png {k} {label} 3.5 14 2\n")
            images[(b, k)] = (img, label)
        if empty and b == 0:
            (base / "imgs" / "0" / "sample_172.png").write_bytes(b"")
            lines.append("imgs/0 sample_172.png 172 1 3.5 14 2\n")
        (base / "metadata" / f"{b}.npy").write_text("".join(lines))
    return images


@pytest.mark.parametrize(
    "nesting", [("lra_release", "lra_release"), ("lra_release",), ()], ids=["double", "single", "flat"]
)
def test_pathfinder_items(tmp_path, nesting):
    images = make_pathfinder(tmp_path.joinpath(*nesting))
    task = load_task("pathfinder", tmp_path)
    assert (task.n_classes, task.vocab_size, task.d_input, task.max_length) == (2, None, 1, 1024)
    assert [len(task.train), len(task.val), len(task.test)] == [8, 1, 1]  # the empty image is skipped
    seen = set()
    for ds in (task.train, task.val, task.test):
        for k in range(len(ds)):
            x, y = ds[k]
            assert x.shape == (1024, 1) and x.dtype == torch.float32
            b_k = next(key for key, (img, _) in images.items() if np.allclose(img.reshape(-1) / 255, x[:, 0]))
            assert images[b_k][1] == y
            seen.add(b_k)
    assert seen == set(images)
    normalized = load_task("pathfinder", tmp_path, normalize=True)
    assert torch.allclose(normalized.train[0][0], (task.train[0][0] - 0.5) / 0.5)


def test_pathfinder_split_option_and_determinism(tmp_path):
    make_pathfinder(tmp_path, split="curv_baseline", n=20, empty=False)
    a = load_task("pathfinder", tmp_path, split="curv_baseline", seed=1)
    b = load_task("pathfinder", tmp_path, split="curv_baseline", seed=1)
    c = load_task("pathfinder", tmp_path, split="curv_baseline", seed=2)
    assert [len(a.train), len(a.val), len(a.test)] == [16, 2, 2]
    assert a.test.paths == b.test.paths and a.train.paths == b.train.paths
    assert (a.val.paths + a.test.paths) != (c.val.paths + c.test.paths)
    assert sorted(a.train.paths + a.val.paths + a.test.paths) == sorted(c.train.paths + c.val.paths + c.test.paths)
    with pytest.raises(DatasetNotFoundError, match="curv_contour_length_14"):
        load_task("pathfinder", tmp_path)


def test_pathfinder_errors(tmp_path):
    with pytest.raises(DataOptionError, match="resolution"):
        load_task("pathfinder", tmp_path, resolution=48)
    with pytest.raises(DatasetNotFoundError, match="pathfinder64"):
        load_task("pathfinder", tmp_path, resolution=64)
    make_pathfinder(tmp_path, n=4, empty=False)
    meta = tmp_path / "pathfinder32" / "curv_contour_length_14" / "metadata" / "1.npy"
    original = meta.read_text()
    meta.write_text(original + "imgs/1 sample_0.png 0\n")
    with pytest.raises(DatasetFormatError, match=r"1\.npy:3: expected at least 4 fields"):
        load_task("pathfinder", tmp_path)
    meta.write_text(original + "imgs/1 sample_0.png 0 2\n")
    with pytest.raises(DatasetFormatError, match="must be 0 or 1"):
        load_task("pathfinder", tmp_path)
    meta.write_text(original + "imgs/1 sample_9.png 0 1\n")
    with pytest.raises(DatasetFormatError, match=r"sample_9\.png is missing"):
        load_task("pathfinder", tmp_path)
    meta.write_text(original)
    img = tmp_path / "pathfinder32" / "curv_contour_length_14" / "imgs" / "1" / "sample_1.png"
    img.write_bytes(png_bytes(np.zeros((16, 16), np.uint8)))
    with pytest.raises(DatasetFormatError, match=r"sample_1\.png: expected a 32 x 32 image, got 16 x 16"):
        load_task("pathfinder", tmp_path, val_fraction=0.0, test_fraction=0.0)  # at load, not in training


def _pathfinder_files(root):
    base = root / "pathfinder32" / "curv_contour_length_14"
    return base / "metadata" / "1.npy", base / "imgs" / "1" / "sample_1.png"


def test_pathfinder_confines_paths_to_the_data_folder(tmp_path, monkeypatch):
    make_pathfinder(tmp_path, n=4, empty=False)
    meta, img = _pathfinder_files(tmp_path)
    original = meta.read_text()
    opened = []
    real_open = open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", spy)
    meta.write_text(original + "../../../../../../../etc passwd 0 1\n")  # the metadata line
    with pytest.raises(DatasetFormatError, match=r"1\.npy:3: image path .* points outside the data folder"):
        load_task("pathfinder", tmp_path)
    assert not any("passwd" in p for p in opened)  # refused before opening anything outside
    meta.write_text(original)
    img.unlink()
    img.symlink_to("/dev/zero")  # a link out of the folder (to a device): an error, not a skipped image
    with pytest.raises(DatasetFormatError, match="outside the data folder"):
        load_task("pathfinder", tmp_path)
    img.unlink()
    img.write_bytes(png_bytes(np.zeros((32, 32), np.uint8)))
    (tmp_path / "pathfinder32" / "curv_contour_length_14" / "imgs" / "1" / "sub").mkdir()
    meta.write_text(original + "imgs/1 sub 0 1\n")
    with pytest.raises(DatasetFormatError, match="not a regular file"):
        load_task("pathfinder", tmp_path)


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda b: b[: len(b) // 2], r"truncated PNG file \(\d+ bytes, no IEND chunk"),
        (lambda b: b"GIF89a" + b[6:], "not a PNG file"),
        (lambda b: b"\x00" * 40, "not a PNG file"),
    ],
    ids=["truncated", "gif", "zeros"],
)
def test_pathfinder_checks_every_image_at_load(tmp_path, damage, match):
    make_pathfinder(tmp_path, n=4, empty=False)
    _, img = _pathfinder_files(tmp_path)
    img.write_bytes(damage(img.read_bytes()))
    with pytest.raises(DatasetFormatError, match=rf"sample_1\.png: {match}"):
        load_task("pathfinder", tmp_path)
