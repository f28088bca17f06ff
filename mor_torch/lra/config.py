"""Pipeline configuration: typed sections, TOML presets, dotted-key overrides.

A configuration is a frozen :class:`Config` of typed sections (:class:`TaskConfig`,
:class:`ModelConfig`, :class:`ReduceConfig`, :class:`TrainConfig`, :class:`RunConfig`) plus the
per-stage training overrides ``pretrain`` and ``main`` (keys of ``[train]``).  It is built from
plain data (nested dicts of TOML values) by :meth:`Config.from_dict`, which rejects unknown keys
(listing the valid ones), values of the wrong type and values out of range with a
:class:`~mor_torch.lra.errors.ConfigError`; :meth:`Config.to_dict` gives the plain data back, so
the run directory's ``config.json`` round-trips.

Presets live in ``mor_torch/lra/presets/<name>.toml``; every key can be overridden from the command
line with ``--set section.key=value`` where ``value`` is parsed as a TOML value (``0.002``,
``true``, ``[0, 1, 2]``, ``"text"``; bare words fall back to strings).  The allowed values of the
choice options of the pipeline are defined in :mod:`mor_torch.lra.choices` (below this module and the
code it configures), those of the adapter by its modules (:data:`mor_torch.dss.MODES`,
:data:`mor_torch.init.INITS`, :data:`mor_torch.reduce.GRAMIANS`, ...).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mor.errors import MorError
from mor.validation import check_bool, check_choice, check_int, check_real

from ..dss import DEFAULT_MODE, DEFAULT_STEP_RANGE, MODES
from ..init import DEFAULT_INIT, INITS
from ..reduce import GRAMIANS, STRUCTURES
from .choices import BASELINE_POLES, CURVE_METHODS, INIT_REDUCERS, SCHEDULERS, TASKS
from .errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "BASELINE_POLES",
    "ClaimsConfig",
    "CompressionConfig",
    "Config",
    "DuringConfig",
    "ModelConfig",
    "ReduceConfig",
    "RunConfig",
    "TaskConfig",
    "TrainConfig",
    "apply_overrides",
    "available_presets",
    "dumps_toml",
    "load_preset",
    "parse_override",
    "resolve_config",
]


# --------------------------------------------------------------------------- field checks
def _checked(check: Callable[..., Any], **kwargs: Any) -> Callable[[Any, str], Any]:
    """A field check from a :mod:`mor.validation` function, raising :class:`ConfigError`."""

    def run(value: Any, where: str) -> Any:
        try:
            return check(value, where, **kwargs)
        except MorError as exc:
            raise ConfigError(str(exc)) from None

    return run


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} must be a string, got {value!r}")
    return value


def _table(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table, got {value!r}")
    return MappingProxyType(copy.deepcopy(dict(value)))


def _seeds(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where} must be a non-empty list of non-negative integers, got {value!r}")
    seeds = tuple(_checked(check_int, minimum=0)(s, f"{where} entry") for s in value)
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"{where} has duplicates: {list(seeds)}")
    return seeds


def _spec(default: Any, check: Callable[[Any, str], Any], doc: str) -> Any:
    metadata = {"check": check, "doc": doc}
    if isinstance(default, Mapping):  # unhashable: dataclasses want a factory
        return field(default_factory=lambda: MappingProxyType(dict(default)), metadata=metadata)
    return field(default=default, metadata=metadata)


#: Most torch threads a process may ask for (OpenMP crashes the process at ~100,000).
MAX_THREADS = 1024
#: Largest float32: training hyper-parameters act on float32 tensors (torch cannot convert more).
FLOAT32_MAX = 3.4028234663852886e38

POSITIVE_INT = _checked(check_int)
NONNEGATIVE_INT = _checked(check_int, minimum=0)
POSITIVE_REAL = _checked(check_real, minimum=0.0, include_min=False, maximum=FLOAT32_MAX)
NONNEGATIVE_REAL = _checked(check_real, minimum=0.0, maximum=FLOAT32_MAX)
PROBABILITY = _checked(check_real, minimum=0.0, maximum=1.0, include_max=False)
BOOL = _checked(check_bool)


def _choice(choices: tuple[str, ...]) -> Callable[[Any, str], Any]:
    return _checked(check_choice, choices=choices)


# --------------------------------------------------------------------------- sections
@dataclass(frozen=True)
class TaskConfig:
    """``[task]``: which data.

    Attributes
    ----------
    name : str
        A task of :data:`mor_torch.lra.choices.TASKS`.
    data_dir : str
        Data root; empty: ``$MOR_DATA_DIR`` or ``./data``.
    options : mapping
        Task options (checked by the task's loader, see :func:`mor_torch.lra.data.task_options`).
    """

    name: str = _spec("listops-mini", _choice(TASKS), "task name")
    data_dir: str = _spec("", _string, "data root")
    options: Mapping[str, Any] = _spec(MappingProxyType({}), _table, "task options")


@dataclass(frozen=True)
class ModelConfig:
    """``[model]``: the DSS classifier (see :class:`mor_torch.lra.model.SequenceClassifier`).

    Attributes
    ----------
    d_model, n_layers, d_state : int
        Width ``H``, depth and state size ``N``.
    mode : str
        DSS kernel parametrisation, one of :data:`mor_torch.dss.MODES`.
    init : str
        Pole initialisation, one of :data:`mor_torch.init.INITS`.
    shared_poles : bool
        One set of poles per layer (``True``) or per channel.
    dropout : float
        In ``[0, 1)``.
    prenorm : bool
        Pre-norm instead of post-norm blocks.
    step_min, step_max : float
        Range of the initial steps ``Delta``.
    """

    d_model: int = _spec(64, POSITIVE_INT, "width H")
    n_layers: int = _spec(4, POSITIVE_INT, "number of blocks")
    d_state: int = _spec(64, POSITIVE_INT, "state size N")
    mode: str = _spec(DEFAULT_MODE, _choice(MODES), "DSS kernel parametrisation")
    init: str = _spec(DEFAULT_INIT, _choice(tuple(INITS)), "pole initialisation")
    shared_poles: bool = _spec(True, BOOL, "one set of poles per layer")
    dropout: float = _spec(0.0, PROBABILITY, "dropout probability")
    prenorm: bool = _spec(False, BOOL, "pre-norm blocks")
    step_min: float = _spec(DEFAULT_STEP_RANGE[0], POSITIVE_REAL, "smallest initial step")
    step_max: float = _spec(DEFAULT_STEP_RANGE[1], POSITIVE_REAL, "largest initial step")


@dataclass(frozen=True)
class ReduceConfig:
    """``[reduce]``: the balanced truncation of every DSS layer.

    Attributes
    ----------
    order : int
        Reduced state size ``r`` (``< model.d_state``).
    gramians : str
        One of :data:`mor_torch.reduce.GRAMIANS`.
    structure : str
        One of :data:`mor_torch.reduce.STRUCTURES`.
    baseline_poles : str
        Pole layout of the size-``r`` baselines: ``"match"`` (that of the reduced model),
        ``"shared"`` or ``"channel"``.
    track_epochs : bool
        Also reduce (and evaluate) the model after every pre-training epoch.
    """

    order: int = _spec(8, POSITIVE_INT, "reduced state size r")
    gramians: str = _spec("discrete", _choice(GRAMIANS), "Gramians of the reduction")
    structure: str = _spec("channel", _choice(STRUCTURES), "system structure of a layer")
    baseline_poles: str = _spec("match", _choice(BASELINE_POLES), "pole layout of the baselines")
    track_epochs: bool = _spec(False, BOOL, "reduce after every pre-training epoch")


@dataclass(frozen=True)
class TrainConfig:
    """``[train]``: a training recipe (``[pretrain]`` and ``[main]`` override its keys per stage).

    Attributes
    ----------
    epochs, batch_size, eval_batch_size : int
        Positive.
    lr, weight_decay : float
        AdamW learning rate (> 0) and weight decay (>= 0) of the non-SSM parameters.
    ssm_lr, ssm_weight_decay : float
        The same for the SSM parameters (poles, ``W``, ``log_step``).
    scheduler : str
        One of :data:`mor_torch.lra.choices.SCHEDULERS`.
    warmup_steps : int
        Linear warm-up steps (not with ``plateau``).
    plateau_patience, plateau_factor, min_lr
        ReduceLROnPlateau settings.
    grad_clip : float
        Gradient-norm clipping; 0 = off.
    max_steps_per_epoch : int
        0 = the whole training set.
    bucket : int
        Length bucketing of the training batches; 0 = off.
    log_every : int
        Debug log line every this many steps; 0 = never.
    hsv_reg : float
        Weight of the Hankel-singular-value tail penalty added to the training loss
        (:func:`mor_torch.regularize.hsv_penalty`); 0 = off.
    hsv_reg_order : int
        ``r`` of the penalty (the tail beyond ``r`` is penalised); 0 = ``reduce.order``
        (resolved by :meth:`Config.recipe`).
    hsv_reg_channels : int
        Channels per layer drawn at random for the penalty at each step (a cheaper, unbiased
        estimate); 0 = all.
    """

    epochs: int = _spec(3, POSITIVE_INT, "epochs")
    batch_size: int = _spec(32, POSITIVE_INT, "training batch size")
    eval_batch_size: int = _spec(64, POSITIVE_INT, "evaluation batch size")
    lr: float = _spec(0.01, POSITIVE_REAL, "learning rate")
    weight_decay: float = _spec(0.01, NONNEGATIVE_REAL, "weight decay")
    ssm_lr: float = _spec(1e-3, POSITIVE_REAL, "learning rate of the SSM parameters")
    ssm_weight_decay: float = _spec(0.0, NONNEGATIVE_REAL, "weight decay of the SSM parameters")
    scheduler: str = _spec("plateau", _choice(SCHEDULERS), "learning-rate schedule")
    warmup_steps: int = _spec(0, NONNEGATIVE_INT, "warm-up steps")
    plateau_patience: int = _spec(5, NONNEGATIVE_INT, "plateau patience (epochs)")
    plateau_factor: float = _spec(
        0.2, _checked(check_real, minimum=0.0, maximum=1.0, include_min=False, include_max=False), "plateau factor"
    )
    min_lr: float = _spec(0.0, NONNEGATIVE_REAL, "smallest learning rate")
    grad_clip: float = _spec(0.0, NONNEGATIVE_REAL, "gradient clipping norm")
    max_steps_per_epoch: int = _spec(0, NONNEGATIVE_INT, "steps per epoch cap")
    bucket: int = _spec(0, NONNEGATIVE_INT, "length bucketing factor")
    log_every: int = _spec(50, NONNEGATIVE_INT, "debug log interval")
    hsv_reg: float = _spec(0.0, NONNEGATIVE_REAL, "weight of the Hankel-singular-value tail penalty (0 = off)")
    hsv_reg_order: int = _spec(0, NONNEGATIVE_INT, "order r of the penalty (0 = reduce.order)")
    hsv_reg_channels: int = _spec(4, NONNEGATIVE_INT, "channels per layer sampled for the penalty (0 = all)")


@dataclass(frozen=True)
class RunConfig:
    """``[run]``: seeds and execution.

    Attributes
    ----------
    seeds : tuple of int
        Non-negative, distinct.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:<k>"``.
    threads : int
        Torch threads per process, ``0 .. MAX_THREADS``; 0 = cores / processes.
    deterministic : bool
        Deterministic torch kernels.
    fill_uninitialized_memory : bool
        With ``deterministic``: also fill fresh tensors with NaN (a debugging aid; slower).
    latency_tokens : int
        Tokens streamed per stage to time the per-token latency of its recurrent form (batch 1,
        one thread; :func:`mor_torch.lra.streaming.measure_latency`), written to the ``timing``
        block of ``results.json``; 0 = not timed.  Like ``device`` and ``threads`` it changes no
        result, so a resumed run may change it.
    seed_workers : int
        Processes that train the seeds at once (``>= 1``; CPU runs outside torchrun only, else 1): each
        runs every stage of its seeds with ``threads`` torch threads (0: the cores divided among the
        workers).  Two single-threaded processes keep 2 cores busier than one process with 2 threads
        (most of a step's operations are too small to split).  The numbers are those of a sequential
        run with the workers' thread count; like ``threads``, a resumed run may change it.
    """

    seeds: tuple[int, ...] = _spec((0,), _seeds, "seeds")
    device: str = _spec("auto", _string, "device")
    threads: int = _spec(0, _checked(check_int, minimum=0, maximum=MAX_THREADS), "threads (0 = auto)")
    deterministic: bool = _spec(True, BOOL, "deterministic kernels")
    fill_uninitialized_memory: bool = _spec(False, BOOL, "NaN-fill fresh tensors (debugging)")
    latency_tokens: int = _spec(256, NONNEGATIVE_INT, "tokens timed per stage for the streaming latency (0 = off)")
    seed_workers: int = _spec(1, _checked(check_int, maximum=MAX_THREADS), "processes that train seeds at once")


def _epochs(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} must be a list of epochs, got {value!r}")
    epochs = tuple(POSITIVE_INT(e, f"{where} entry") for e in value)
    if len(set(epochs)) != len(epochs):
        raise ConfigError(f"{where} has duplicates: {list(epochs)}")
    return tuple(sorted(epochs))


def _inits(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where} must be a non-empty list of initialisations, got {value!r}")
    inits = [_choice(tuple(INIT_REDUCERS))(i, f"{where} entry") for i in value]
    if len(set(inits)) != len(inits):
        raise ConfigError(f"{where} has duplicates: {inits}")
    if "bt" not in inits:
        raise ConfigError(f"{where} must include 'bt' (the method, the reference of the comparisons), got {inits}")
    return tuple(i for i in INIT_REDUCERS if i in inits)  # canonical order: the stages run in it


def _orders(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} must be a list of reduced orders, got {value!r}")
    orders = tuple(POSITIVE_INT(k, f"{where} entry") for k in value)
    if len(set(orders)) != len(orders):
        raise ConfigError(f"{where} has duplicates: {list(orders)}")
    return tuple(sorted(orders, reverse=True))


@dataclass(frozen=True)
class ClaimsConfig:
    """``[claims]``: the claims experiment's extra arms (see :mod:`mor_torch.lra.claims`).

    Attributes
    ----------
    checkpoints : tuple of int
        Pre-training epochs whose weights are each reduced and main-trained (every seed); empty:
        no such runs.  Each must be at most the pre-training epochs.
    bootstrap : int
        Bootstrap resamples of the rank correlation's confidence interval.
    inits : tuple of str
        Initialisations compared after main training, names of
        :data:`mor_torch.lra.choices.INIT_REDUCERS` (``"bt"`` required): for each, the pre-trained
        model reduced by that reducer (stage ``reduced`` for BT, ``<init>_reduced`` otherwise) and
        main-trained (``<init>_init``), at every order of ``orders``.
    orders : tuple of int
        The reduced orders of those arms (sorted, largest first); empty: ``reduce.order`` alone.
        Non-empty, it must include ``reduce.order``; the stages of another order ``k`` carry the
        suffix ``_r<k>`` (``bt_init_r2``).  Each must be smaller than ``model.d_state``.
    hsv_reg : float
        ``> 0``: a second pre-training (stage ``pretrained_hsvreg``) from the same initial weights
        with the Hankel-singular-value regulariser of this weight
        (:func:`mor_torch.regularize.hsv_penalty`; its order and channels from the ``pretrain``
        recipe, whose own ``hsv_reg`` must be 0), then balanced truncation to every order of
        ``orders`` without (``hsvreg_reduced``) and with main training (``hsvreg_bt_init``);
        0 = off.
    baselines : bool
        Run the reference stages ``full_continued``, ``skew_hippo`` and ``skew_hippo_matched``
        (claim 1 needs them); ``False`` skips them (claim 1 is then "not run").
    """

    checkpoints: tuple[int, ...] = _spec((), _epochs, "pre-training epochs to reduce and main-train")
    bootstrap: int = _spec(2000, POSITIVE_INT, "bootstrap resamples")
    inits: tuple[str, ...] = _spec(("bt", "modal"), _inits, "initialisations compared after main training")
    orders: tuple[int, ...] = _spec((), _orders, "reduced orders of the initialisation arms (empty: reduce.order)")
    hsv_reg: float = _spec(0.0, NONNEGATIVE_REAL, "weight of the HSV-regularised second pre-training (0 = off)")
    baselines: bool = _spec(True, BOOL, "run full_continued and the Skew-HiPPO baselines")


def _fractions(value: Any, where: str) -> tuple[float, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where} must be a non-empty list of fractions in (0, 1], got {value!r}")
    check = _checked(check_real, minimum=0.0, maximum=1.0, include_min=False)
    fractions = tuple(check(f, f"{where} entry") for f in value)
    if len(set(fractions)) != len(fractions):
        raise ConfigError(f"{where} has duplicates: {list(fractions)}")
    return tuple(sorted(fractions, reverse=True))


def _methods(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise ConfigError(f"{where} must be a non-empty list of methods, got {value!r}")
    methods = tuple(_choice(tuple(CURVE_METHODS))(m, f"{where} entry") for m in value)
    if len(set(methods)) != len(methods):
        raise ConfigError(f"{where} has duplicates: {list(methods)}")
    return methods


@dataclass(frozen=True)
class CompressionConfig:
    """``[compression]``: the compression curve (see :mod:`mor_torch.lra.compression`).

    Attributes
    ----------
    enabled : bool
        ``True``: the run is the compression experiment: pre-training (as in the pipeline, with
        its checkpoints and resume), then for every seed the curve; the other stages do not run.
    fractions : tuple of float
        Fractions of the SSM states kept, in ``(0, 1]`` (sorted, largest first).
    methods : tuple of str
        Methods of :data:`mor_torch.lra.choices.CURVE_METHODS`.
    """

    enabled: bool = _spec(False, BOOL, "run the compression experiment instead of the pipeline stages")
    fractions: tuple[float, ...] = _spec(
        (1.0, 0.75, 0.5, 0.375, 0.25, 0.125, 0.0625), _fractions, "fractions of the SSM states kept"
    )
    methods: tuple[str, ...] = _spec(tuple(CURVE_METHODS), _methods, "methods of the curve")


def _orders(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{where} must be a list of state sizes, got {value!r}")
    orders = tuple(POSITIVE_INT(r, f"{where} entry") for r in value)
    if any(b >= a for a, b in itertools.pairwise(orders)):
        raise ConfigError(f"{where} must decrease strictly, got {list(orders)}")
    return orders


@dataclass(frozen=True)
class DuringConfig:
    """``[during]``: reduction during pre-training (the CompreSSM design; see :mod:`mor_torch.lra.during`).

    Attributes
    ----------
    epochs : tuple of int
        Pre-training epochs after which every DSS layer is reduced by balanced truncation (sorted;
        each smaller than the pre-training epochs, so the final order trains in pre-training too);
        empty: the arm does not run.
    orders : tuple of int
        One state size per entry of ``epochs``, strictly decreasing, the last equal to
        ``reduce.order``.  Exactly one of ``orders`` and ``energy``.
    energy : float
        Tail tolerance in ``[0, 1)``: at every scheduled epoch but the last, each layer keeps the
        smallest ``r`` whose discarded Hankel singular values sum to at most ``energy`` times their
        total in every channel (not below ``reduce.order``, never above the current size); the last
        reduces to ``reduce.order``.  0: use ``orders``.
    """

    epochs: tuple[int, ...] = _spec((), _epochs, "pre-training epochs after which to reduce (empty: off)")
    orders: tuple[int, ...] = _spec((), _orders, "state size after each scheduled reduction")
    energy: float = _spec(0.0, PROBABILITY, "discarded HSV fraction per reduction (0: use orders)")


_SECTIONS: dict[str, type] = {
    "task": TaskConfig,
    "model": ModelConfig,
    "reduce": ReduceConfig,
    "train": TrainConfig,
    "run": RunConfig,
    "claims": ClaimsConfig,
    "compression": CompressionConfig,
    "during": DuringConfig,
}
_STAGES = ("pretrain", "main")


def _build(cls: type, section: str, data: Any) -> Any:
    """A section from plain data: unknown keys rejected, every value checked."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"configuration section [{section}] must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; known: {', '.join(fields)}")
    return cls(**{k: fields[k].metadata["check"](v, f"{section}.{k}") for k, v in data.items()})


def _stage_overrides(stage: str, data: Any) -> Mapping[str, Any]:
    """``[pretrain]``/``[main]``: keys of ``[train]``, each checked."""
    checked = _build(TrainConfig, stage, data)
    return MappingProxyType({k: getattr(checked, k) for k in data})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class Config:
    """A resolved, validated pipeline configuration.

    Attributes
    ----------
    preset : str
        The preset it came from (names the run directory).
    task, model, reduce, train, run
        The typed sections.
    pretrain, main : mapping
        Per-stage overrides of ``train`` keys; :meth:`recipe` merges them.
    claims : ClaimsConfig
        The second claim's experiment.
    compression : CompressionConfig
        The compression curve (instead of the pipeline stages when enabled).
    during : DuringConfig
        Reduction during pre-training (the ``during`` arm; off when ``during.epochs`` is empty).
    """

    preset: str = ""
    task: TaskConfig = field(default_factory=TaskConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    reduce: ReduceConfig = field(default_factory=ReduceConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    pretrain: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    main: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    run: RunConfig = field(default_factory=RunConfig)
    claims: ClaimsConfig = field(default_factory=ClaimsConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    during: DuringConfig = field(default_factory=DuringConfig)

    def __post_init__(self) -> None:
        if self.reduce.order >= self.model.d_state:
            raise ConfigError(
                f"reduce.order ({self.reduce.order}) must be smaller than model.d_state ({self.model.d_state})"
            )
        if self.model.step_min > self.model.step_max:
            raise ConfigError(
                f"model.step_min ({self.model.step_min}) must not exceed model.step_max ({self.model.step_max})"
            )
        for stage in _STAGES:
            recipe = self.recipe(stage)
            if recipe.warmup_steps and recipe.scheduler == "plateau":
                raise ConfigError(f"{stage}: warmup_steps needs the cosine, linear or constant scheduler, not plateau")
        late = [e for e in self.claims.checkpoints if e > self.recipe("pretrain").epochs]
        if late:
            raise ConfigError(
                f"claims.checkpoints {late} exceed the {self.recipe('pretrain').epochs} pre-training epochs"
            )
        self._check_during()
        self._check_claim_arms()

    def _check_during(self) -> None:
        """``[during]``: a schedule that fits the pre-training and ends at ``reduce.order``."""
        dur, pre_epochs = self.during, self.recipe("pretrain").epochs
        if not dur.epochs:
            if dur.orders or dur.energy:
                raise ConfigError("during.orders and during.energy need during.epochs (empty: the arm is off)")
            return
        if self.compression.enabled:
            raise ConfigError("during.epochs cannot be combined with compression.enabled (no pipeline stages run)")
        if dur.epochs[-1] >= pre_epochs:
            raise ConfigError(f"during.epochs {list(dur.epochs)} must be smaller than the {pre_epochs} "
                              "pre-training epochs (the final order trains for at least one of them)")  # fmt: skip
        if bool(dur.orders) == bool(dur.energy):
            raise ConfigError("give exactly one of during.orders and during.energy")
        if dur.orders and len(dur.orders) != len(dur.epochs):
            raise ConfigError(f"during.orders has {len(dur.orders)} entries for {len(dur.epochs)} during.epochs")
        if dur.orders and (dur.orders[-1] != self.reduce.order or dur.orders[0] >= self.model.d_state):
            raise ConfigError(f"during.orders {list(dur.orders)} must start below model.d_state "
                              f"({self.model.d_state}) and end at reduce.order ({self.reduce.order})")  # fmt: skip

    def _check_claim_arms(self) -> None:
        """``claims.orders`` and ``claims.hsv_reg`` against the model and the pre-training recipe."""
        orders, order = self.claims.orders, self.reduce.order
        if orders and order not in orders:
            raise ConfigError(f"claims.orders {list(orders)} must include reduce.order ({order})")
        big = [k for k in orders if k >= self.model.d_state]
        if big:
            raise ConfigError(f"claims.orders {big} must be smaller than model.d_state ({self.model.d_state})")
        if self.claims.hsv_reg and self.recipe("pretrain").hsv_reg:
            raise ConfigError(
                "claims.hsv_reg compares regularised with plain pre-training: the pretrain recipe's hsv_reg "
                f"must be 0, got {self.recipe('pretrain').hsv_reg}"
            )

    def recipe(self, stage: str) -> TrainConfig:
        """The training recipe of ``stage`` (``"pretrain"`` or ``"main"``): ``train`` with its overrides.

        Parameters
        ----------
        stage : {"pretrain", "main"}
            The stage.

        Returns
        -------
        TrainConfig
        """
        if stage not in _STAGES:
            raise ConfigError(f"stage must be one of {_STAGES}, got {stage!r}")
        recipe = dataclasses.replace(self.train, **getattr(self, stage))
        if recipe.hsv_reg_order == 0:  # the penalty's order defaults to the reduction's
            recipe = dataclasses.replace(recipe, hsv_reg_order=self.reduce.order)
        return recipe

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Config:
        """Build and validate a configuration from plain data (missing keys take their defaults).

        Parameters
        ----------
        data : mapping
            ``{"preset": str, "task": {...}, "model": {...}, ...}``.

        Returns
        -------
        Config

        Raises
        ------
        ConfigError
            An unknown section or key, a value of the wrong type or out of range.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a configuration must be a table, got {type(data).__name__}")
        known = ("preset", *_SECTIONS, *_STAGES)
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown configuration section(s) {', '.join(unknown)}; known: {', '.join(known)}")
        kwargs: dict[str, Any] = {"preset": _string(data.get("preset", ""), "preset")}
        kwargs.update({name: _build(sec, name, data.get(name, {})) for name, sec in _SECTIONS.items()})
        kwargs.update({stage: _stage_overrides(stage, data.get(stage, {})) for stage in _STAGES})
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON and TOML values) that :meth:`from_dict` turns back into this configuration.

        Returns
        -------
        dict
        """
        return _plain(self)


# --------------------------------------------------------------------------- presets and overrides
def _presets_dir() -> Path:
    return Path(__file__).resolve().parent / "presets"


def available_presets() -> list[str]:
    """Names of the presets shipped in ``mor_torch/lra/presets``.

    Returns
    -------
    list of str
    """
    return sorted(p.stem for p in _presets_dir().glob("*.toml"))


def load_preset(name_or_path: str | Path) -> dict:
    """Read a preset by name (``"smoke"``) or by path to a TOML file, as plain data.

    Parameters
    ----------
    name_or_path : str or Path
        A preset name or a ``.toml`` file.

    Returns
    -------
    dict
        The file's tables, with ``preset`` set to its name (not yet validated).

    Raises
    ------
    ConfigError
        Unknown preset, missing file or invalid TOML.
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _presets_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(f"unknown preset {str(name_or_path)!r}; available: {', '.join(available_presets())}")
    elif not path.is_file():
        raise ConfigError(f"preset file {str(path)!r} does not exist")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"preset {str(path)!r} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"preset {str(path)!r} cannot be read: {exc}") from None
    data.setdefault("preset", path.stem)
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``"section.key=value"`` into (``["section", "key"]``, value).

    Parameters
    ----------
    text : str
        The override; the value is read as a TOML value, and taken as a string if that fails.

    Returns
    -------
    keys : list of str
    value : object
    """
    if "=" not in text:
        raise ConfigError(f"override {text!r} must have the form section.key=value")
    key, raw = text.split("=", 1)
    parts = [p.strip() for p in key.strip().split(".")]
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key component")
    raw = raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return parts, value


def apply_overrides(data: Config | Mapping[str, Any], overrides: list[str] | Mapping[str, Any]) -> dict:
    """A copy of the plain configuration ``data`` with dotted-key overrides applied.

    Parameters
    ----------
    data : Config or mapping
        A configuration or its plain data.
    overrides : list of str or mapping
        ``"a.b=value"`` strings or a mapping ``{"a.b": value}``.  Keys are checked when the
        result is validated (:meth:`Config.from_dict`); sections are created as needed.

    Returns
    -------
    dict
    """
    out = data.to_dict() if isinstance(data, Config) else copy.deepcopy(dict(data))
    items = (
        [parse_override(o) for o in overrides]
        if isinstance(overrides, list)
        else [(k.split("."), v) for k, v in overrides.items()]
    )
    for parts, value in items:
        if len(parts) < 2 and parts[0] != "preset":
            raise ConfigError(f"override {'.'.join(parts)!r} must name a section and a key (section.key=value)")
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.setdefault(part, {})
            if not isinstance(nxt, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])!r} is a value, not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def resolve_config(
    preset: str | Path = "listops-mini", overrides: list[str] | Mapping[str, Any] | None = None
) -> Config:
    """A preset with overrides applied, validated.

    Parameters
    ----------
    preset : str or Path
        Preset name or TOML file.
    overrides : list of str or mapping, optional
        See :func:`apply_overrides`.

    Returns
    -------
    Config
    """
    data = load_preset(preset)
    if overrides:
        data = apply_overrides(data, overrides)
    return Config.from_dict(data)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} as TOML")


def dumps_toml(config: Config | Mapping[str, Any]) -> str:
    """Serialise a configuration as TOML (tables of scalars and lists).

    Parameters
    ----------
    config : Config or mapping
        A configuration or its plain data.

    Returns
    -------
    str
    """
    data = config.to_dict() if isinstance(config, Config) else _plain(config)
    lines: list[str] = []

    def table(prefix: str, node: dict) -> None:
        scalars = {k: v for k, v in node.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in node.items() if isinstance(v, dict)}
        if prefix and (scalars or not tables):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{k} = {_toml_value(v)}")
        if prefix and (scalars or not tables):
            lines.append("")
        for k, v in tables.items():
            table(f"{prefix}.{k}" if prefix else k, v)

    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    for k, v in top.items():
        lines.append(f"{k} = {_toml_value(v)}")
    if top:
        lines.append("")
    table("", {k: v for k, v in data.items() if isinstance(v, dict)})
    return "\n".join(lines)
