"""ListOps: the generator, tokenisation, the LRA TSV loader, nested layouts and the mini cache."""

import os
import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mor_torch.lra import files as files_mod  # noqa: E402
from mor_torch.lra.data import (  # noqa: E402
    TASKS,
    DataOptionError,
    DatasetFormatError,
    DatasetNotFoundError,
    collate,
    generate_listops,
    load_task,
    registry,
    sample_listops,
    task_options,
)
from mor_torch.lra.data import text as text_mod  # noqa: E402
from mor_torch.lra.data.listops import sample_listops_tree  # noqa: E402
from mor_torch.lra.data.tokenize import LISTOPS_VOCAB_SIZE, listops_ids, listops_tokens  # noqa: E402
from mor_torch.lra.files import atomic_write_text  # noqa: E402

OPS = ("[MIN", "[MAX", "[MED", "[SM")


# ---------------------------------------------------------------- an independent parser and evaluator


def parse_pairs(source):
    """Parse LRA's nested-pair serialisation into nested tuples (recursive descent)."""
    tokens = source.split()

    def node(i):
        if tokens[i] == "(":
            left, i = node(i + 1)
            right, i = node(i)
            assert tokens[i] == ")", (source, i)
            return (left, right), i + 1
        tok = tokens[i]
        return (int(tok) if tok.isdigit() else tok), i + 1

    tree, end = node(0)
    assert end == len(tokens)
    return tree


def evaluate(tree):
    """Value of a parsed pair tree (numpy median, unlike the library's statistics.median)."""
    if not isinstance(tree, tuple):
        return tree
    left, right = evaluate(tree[0]), evaluate(tree[1])
    if isinstance(left, str):  # operator meets its first argument
        return (left, [right])
    if right == "]":
        op, args = left
        if op == "[MIN":
            return min(args)
        if op == "[MAX":
            return max(args)
        if op == "[MED":
            return int(np.median(args))
        return sum(args) % 10
    return (left[0], [*left[1], right])


def depth_of(source):
    """Depth of the deepest leaf, the root having depth 1 (LRA's convention)."""
    depth = best = 1
    for tok in source.split():
        if tok in OPS:
            depth += 1
            best = max(best, depth)
        elif tok == "]":
            depth -= 1
    return best


def reference_tree(rng, depth, max_depth, max_args):
    """LRA's generate_tree: plain recursion, no early stop; returns (tokens, length)."""
    if depth < max_depth and rng.random() < 0.25:
        k = rng.randint(2, max_args)
        op = rng.choice(OPS)
        toks = [op]
        for _ in range(k):
            toks += reference_tree(rng, depth + 1, max_depth, max_args)[0]
        return [*toks, "X"], len(toks) + 1
    return [str(rng.randrange(10))], 1


def read_tsv(path):
    lines = path.read_text().splitlines()
    assert lines[0] == "Source\tTarget"
    return [(s, int(t)) for s, t in (line.split("\t") for line in lines[1:])]


# ---------------------------------------------------------------- generator


def test_serialisation_example_and_tokens():
    assert listops_tokens("( ( ( [MAX 2 ) 9 ) ] )") == ["[MAX", "2", "9", "X"]
    assert listops_ids("( ( ( [MAX 2 ) 9 ) ] )").tolist() == [12, 3, 10, 15]
    assert evaluate(parse_pairs("( ( ( [MAX 2 ) 9 ) ] )")) == 9
    assert evaluate(parse_pairs("( ( ( ( [MED 2 ) 9 ) 4 ) ] )")) == 4
    assert evaluate(parse_pairs("( ( ( [MED 2 ) 9 ) ] )")) == 5  # int(5.5)
    assert depth_of("( ( ( [MIN 4 ) ( ( ( [MED 1 ) 8 ) ] ) ) ] )") == 3
    assert LISTOPS_VOCAB_SIZE == 16


def test_generator_files_labels_lengths_dedup(tmp_path):
    out = generate_listops(tmp_path / "g", n_train=300, n_val=40, n_test=60, min_length=20, max_length=120, seed=3)
    splits = {s: read_tsv(out / f"basic_{s}.tsv") for s in ("train", "val", "test")}
    assert [len(splits[s]) for s in ("train", "val", "test")] == [300, 40, 60]
    sources = [src for rows in splits.values() for src, _ in rows]
    assert len(set(sources)) == len(sources)  # deduplicated, splits disjoint
    for src, label in (row for rows in splits.values() for row in rows):
        n_tokens = len(listops_tokens(src))
        assert 20 < n_tokens < 120
        assert label == evaluate(parse_pairs(src))
        assert depth_of(src) <= 10
    labels = [label for rows in splits.values() for _, label in rows]
    assert set(labels) == set(range(10))
    assert not list(out.glob(".*tmp*"))


def test_generator_deterministic(tmp_path):
    kw = dict(n_train=50, n_val=5, n_test=5, min_length=10, max_length=80)
    a = generate_listops(tmp_path / "a", seed=7, **kw)
    b = generate_listops(tmp_path / "b", seed=7, **kw)
    c = generate_listops(tmp_path / "c", seed=8, **kw)
    for s in ("train", "val", "test"):
        assert (a / f"basic_{s}.tsv").read_bytes() == (b / f"basic_{s}.tsv").read_bytes()
    assert (a / "basic_train.tsv").read_bytes() != (c / "basic_train.tsv").read_bytes()


def test_generator_max_depth_and_args():
    rows = sample_listops(200, min_length=3, max_length=200, max_depth=3, max_args=3, seed=1)
    assert max(depth_of(src) for src, _ in rows) == 3
    for src, label in rows:
        assert depth_of(src) <= 3
        tree = parse_pairs(src)
        assert label == evaluate(tree)
        # every operator has 2..3 arguments: count tokens between an operator and its ']'
        stack = []
        for tok in listops_tokens(src):
            if tok in OPS:
                stack.append(0)
            elif tok == "X":
                assert 2 <= stack.pop() <= 3
                if stack:
                    stack[-1] += 1
            elif stack:
                stack[-1] += 1


def test_early_stop_keeps_the_distribution():
    """Accepted trees of the budgeted sampler vs LRA's plain rejection sampler (chi-square)."""
    from scipy.stats import chi2_contingency

    lo, hi, n, depth = 4, 40, 3000, 6
    rng = random.Random(11)
    fast = []
    while len(fast) < n:
        tree = sample_listops_tree(rng, max_depth=depth, max_length=hi)
        if tree is not None and lo < tree[2]:
            fast.append((tree[2], tree[1]))
    rng = random.Random(12)
    plain = []
    while len(plain) < n:
        toks, length = reference_tree(rng, 1, depth, 10)
        if lo < length < hi:
            plain.append((length, toks))
    bins = [5, 8, 11, 15, 20, 27, hi]
    h_fast = np.histogram([x[0] for x in fast], bins=bins)[0]
    h_plain = np.histogram([x[0] for x in plain], bins=bins)[0]
    assert chi2_contingency(np.array([h_fast, h_plain]))[1] > 1e-3
    # label frequencies agree as well (the reference labels come from the independent evaluator)
    lab_fast = np.bincount([x[1] for x in fast], minlength=10)
    lab_plain = np.bincount([_eval_tokens(x[1]) for x in plain], minlength=10)
    assert chi2_contingency(np.array([lab_fast, lab_plain]))[1] > 1e-3


def _eval_tokens(toks):
    stack = [[]]
    for tok in toks:
        if tok in OPS:
            stack.append([tok])
        elif tok == "X":
            op, *args = stack.pop()
            stack[-1].append(evaluate(_fold(op, args)))
        else:
            stack[-1].append(int(tok))
    return stack[0][0]


def _fold(op, args):
    tree = (op, args[0])
    for a in args[1:]:
        tree = (tree, a)
    return (tree, "]")


def test_generator_option_errors():
    with pytest.raises(DataOptionError, match="min_length"):
        sample_listops(5, min_length=10, max_length=11)
    with pytest.raises(DataOptionError, match="n_train"):
        generate_listops("unused", n_train=-1, n_val=0, n_test=0, min_length=0, max_length=10)
    with pytest.raises(DataOptionError, match="max_args"):
        sample_listops(5, min_length=0, max_length=10, max_args=1)
    # lengths strictly between 0 and 3 admit only the ten single digits
    with pytest.raises(DataOptionError, match="only 10 of 11"):
        sample_listops(11, min_length=0, max_length=3, stall_limit=2000)


# ---------------------------------------------------------------- LRA TSV loading


def write_listops(folder, rows_per_split, newline="\n"):
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in rows_per_split.items():
        text = newline.join(["Source\tTarget", *(f"{s}\t{t}" for s, t in rows)]) + newline
        (folder / f"basic_{split}.tsv").write_bytes(text.encode())


ROWS = {
    "train": [("( ( ( [MAX 2 ) 9 ) ] )", 9), ("( ( ( ( [SM 5 ) 6 ) 7 ) ] )", 8), ("3", 3)],
    "val": [("( ( ( [MIN 4 ) ( ( ( [MED 1 ) 8 ) ] ) ) ] )", 4)],
    "test": [("( ( ( [MED 2 ) 9 ) ] )", 5)],
}


@pytest.mark.parametrize(
    "nesting", [("lra_release", "lra_release"), ("lra_release",), ()], ids=["double", "single", "flat"]
)
def test_listops_nested_layouts(tmp_path, nesting):
    write_listops(tmp_path.joinpath(*nesting, "listops-1000"), ROWS, newline="\r\n")
    task = load_task("listops", tmp_path)
    assert (task.name, task.n_classes, task.vocab_size, task.d_input, task.dual) == (
        "listops",
        10,
        16,
        1,
        False,
    )
    assert [len(task.train), len(task.val), len(task.test)] == [3, 1, 1]
    x, y = task.train[0]
    assert x.dtype == torch.int64 and x.tolist() == [12, 3, 10, 15] and y == 9
    x, y = task.val[0]
    assert x.tolist() == [11, 5, 13, 2, 9, 15, 15] and y == 4
    assert task.max_length == 7
    assert task.train[-1][0].tolist() == [4]


def test_listops_prefers_the_release_layout_and_truncates(tmp_path):
    write_listops(tmp_path / "lra_release" / "lra_release" / "listops-1000", ROWS)
    write_listops(tmp_path / "listops-1000", {k: v[:1] for k, v in ROWS.items()})
    task = load_task("listops", tmp_path, max_length=2)
    assert len(task.train) == 3
    assert task.train[0][0].tolist() == [12, 3]
    assert task.max_length == 2


def test_listops_missing_names_the_files(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_task("listops", tmp_path)
    msg = str(info.value)
    assert str(tmp_path / "lra_release" / "lra_release" / "listops-1000" / "basic_train.tsv") in msg
    assert str(tmp_path / "listops-1000" / "basic_train.tsv") in msg
    assert isinstance(info.value, FileNotFoundError)
    write_listops(tmp_path / "listops-1000", {"train": ROWS["train"]})  # val/test missing
    with pytest.raises(DatasetNotFoundError, match=r"basic_val\.tsv"):
        load_task("listops", tmp_path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("Source\tTarget\n( ( [MAX 2 ) ] )\t2\textra\n", r"basic_train\.tsv:2: expected 2"),
        ("Source\tTarget\n( ( [MAX 2 ) ] )\n", r":2: expected 2"),
        ("Source\tTarget\n( ( [MAX 2 ) ] )\t10\n", "outside 0..9"),
        ("Source\tTarget\n( ( [MAX 2 ) ] )\tseven\n", "not an int"),
        ("Source\tTarget\n( ( [FIRST 2 ) ] )\t2\n", r"unknown ListOps token '\[FIRST'"),
        ("Source\tTarget\n( )\t2\n", "empty expression"),
        ("Src\tTgt\n2\t2\n", "header"),
        ("Source\tTarget\n", r"basic_train\.tsv: no examples \(only the header line\)"),  # names the file
        ("Source\tTarget\n\n\n", r"basic_train\.tsv: no examples"),
    ],
)
def test_listops_malformed(tmp_path, content, match):
    folder = tmp_path / "listops-1000"
    write_listops(folder, {"val": ROWS["val"], "test": ROWS["test"]})
    (folder / "basic_train.tsv").write_text(content)
    with pytest.raises(DatasetFormatError, match=match):
        load_task("listops", tmp_path)


# ---------------------------------------------------------------- listops-mini cache


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n_val": 0}, "n_val must be at least 1"),
        ({"n_test": 0}, "n_test must be at least 1"),
        ({"n_train": 0}, "n_train must be at least 1"),
        ({"n_train": 10**12}, "exceeds 10,000,000 generated examples"),
    ],
)
def test_listops_mini_options_fail_at_load(tmp_path, options, match):
    # before the fix n_val=0 loaded fine and failed after training had started (NaN in the results)
    with pytest.raises(DataOptionError, match=match):
        load_task("listops-mini", tmp_path, **{**MINI, **options})


def test_listops_mini_data_dir_must_be_a_writable_folder(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(DataOptionError, match="is not a directory"):
        load_task("listops-mini", tmp_path / "afile", **MINI)
    with pytest.raises(DataOptionError, match="cannot write the generated ListOps-mini data"):
        load_task("listops-mini", tmp_path / "afile" / "below", **MINI)


MINI = dict(n_train=40, n_val=6, n_test=8, min_length=8, max_length=64, seed=5)


def test_listops_mini_generates_once_and_caches(tmp_path, monkeypatch):
    task = load_task("listops-mini", tmp_path, **MINI)
    assert [len(task.train), len(task.val), len(task.test)] == [40, 6, 8]
    (folder,) = [p for p in tmp_path.iterdir()]
    assert folder.name.startswith("listops-mini-")
    assert task.max_length == int(max(d.lengths.max() for d in (task.train, task.val, task.test)))
    assert task.max_length < 64 and min(task.train.lengths) > 8
    before = (folder / "basic_train.tsv").read_bytes()

    def boom(*args, **kwargs):
        raise AssertionError("regenerated despite a complete cache")

    monkeypatch.setattr(text_mod, "generate_listops", boom)
    again = load_task("listops-mini", tmp_path, **MINI)
    assert torch.equal(again.train[3][0], task.train[3][0])
    assert (folder / "basic_train.tsv").read_bytes() == before
    with pytest.raises(AssertionError, match="regenerated"):  # other options: other folder
        load_task("listops-mini", tmp_path, **{**MINI, "seed": 6})


def test_listops_mini_labels_match_evaluator(tmp_path):
    task = load_task("listops-mini", tmp_path, **MINI)
    folder = next(tmp_path.glob("listops-mini-*"))
    rows = read_tsv(folder / "basic_train.tsv")
    for i, (src, label) in enumerate(rows):
        assert task.train[i][1] == label == evaluate(parse_pairs(src))
        assert task.train[i][0].tolist() == listops_ids(src).tolist()


def test_listops_mini_killed_generation_is_not_trusted(tmp_path, monkeypatch):
    folder = text_mod.listops_mini_dir(tmp_path, {**text_mod.MINI_DEFAULTS, **MINI})
    folder.mkdir(parents=True)
    (folder / "basic_train.tsv").write_text("Source\tTarget\n( ( [MAX 2")  # half a file, no options.json
    task = load_task("listops-mini", tmp_path, **MINI)
    assert len(task.train) == 40 and (folder / "options.json").is_file()

    # a generation killed midway leaves only a hidden temporary folder, never the cache folder
    other = {**MINI, "seed": 99}
    calls = []

    def killed(path, **kwargs):
        calls.append(path)
        os.makedirs(path)
        (path / "basic_train.tsv").write_text("Source\tTarget\n")
        raise KeyboardInterrupt

    monkeypatch.setattr(text_mod, "generate_listops", killed)
    with pytest.raises(KeyboardInterrupt):
        load_task("listops-mini", tmp_path, **other)
    target = text_mod.listops_mini_dir(tmp_path, {**text_mod.MINI_DEFAULTS, **other})
    assert calls and calls[0].name.startswith(".") and not target.exists()
    assert not calls[0].exists()  # cleaned up


def test_atomic_write_never_leaves_a_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "f.tsv"
    atomic_write_text(path, "old\n")

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files_mod.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        atomic_write_text(path, "new\n" * 1000)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["f.tsv"]


def test_data_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MOR_DATA_DIR", str(tmp_path / "env"))
    task = load_task("listops-mini", **MINI)
    assert len(task.train) == 40
    assert list((tmp_path / "env").glob("listops-mini-*"))


def test_registry_errors(tmp_path):
    assert TASKS == ("smnist", "listops", "listops-mini", "imdb", "aan", "cifar", "pathfinder")
    assert all(isinstance(task_options(t), dict) for t in TASKS)  # every name of the choices has its loader
    assert tuple(registry._LOADERS) == TASKS  # and every loader its name
    with pytest.raises(DataOptionError, match="unknown task 'listopz'"):
        load_task("listopz", tmp_path)
    with pytest.raises(DataOptionError, match="max_len"):
        load_task("listops", tmp_path, max_len=10)
    with pytest.raises(DataOptionError, match="max_length"):
        load_task("listops", tmp_path, max_length=0)


def test_listops_batches(tmp_path):
    task = load_task("listops-mini", tmp_path, **MINI)
    loader = torch.utils.data.DataLoader(task.train, batch_size=16, shuffle=False, collate_fn=collate)
    batch = next(iter(loader))
    assert batch["x"].shape == (16, int(batch["lengths"].max()))
    for b in range(16):
        n = int(batch["lengths"][b])
        assert torch.equal(batch["x"][b, :n], task.train[b][0])
        assert not batch["x"][b, n:].any()
        assert batch["x"][b, :n].min() >= 1 and batch["x"][b].max() < task.vocab_size
