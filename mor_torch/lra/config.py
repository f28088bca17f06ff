"""Pipeline configuration: TOML presets, dotted-key overrides, validation.

A configuration is plain data (nested dicts of TOML values).  Presets live in
``mor_torch/presets/<name>.toml``; every key can be overridden from the command
line with ``--set section.key=value`` where ``value`` is parsed as a TOML value
(``0.002``, ``true``, ``[0, 1, 2]``, ``"text"``; bare words fall back to strings).
The resolved configuration is validated against :data:`DEFAULTS`: unknown keys
and values of the wrong type raise :class:`ConfigError`.
"""

from __future__ import annotations

import copy
import logging
import sys
from pathlib import Path
from typing import Any

from mor.errors import MorError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULTS",
    "ConfigError",
    "apply_overrides",
    "available_presets",
    "dumps_toml",
    "load_preset",
    "merge",
    "parse_override",
    "resolve_config",
    "stage_train_config",
    "validate",
]


class ConfigError(MorError, ValueError):
    """A configuration key is unknown, or a value has the wrong type or range."""


#: Every known key with its default value.  ``None`` means "no default, any type
#: listed in :data:`_NULLABLE`".  Sections ``pretrain``, ``main`` override
#: ``train`` for the respective stages (the Skew-HiPPO baseline uses ``main``:
#: same recipe, budget and seeds as the main training of the reduced model).
DEFAULTS: dict[str, dict[str, Any]] = {
    "task": {
        "name": "listops-mini",
        "data_dir": "",
        "options": {},
    },
    "model": {
        "d_model": 64,
        "n_layers": 4,
        "d_state": 64,
        "mode": "softmax",
        "init": "skew-hippo",
        "shared_poles": True,
        "dropout": 0.0,
        "prenorm": False,
        "dt_min": 1e-3,
        "dt_max": 1e-1,
        "pool": "mean",
    },
    "reduce": {
        "order": 8,
        "gramians": "discrete",
        "structure": "channel",
        "baseline_shared_poles": "match",
        "track_epochs": False,
    },
    "train": {
        "epochs": 3,
        "batch_size": 32,
        "eval_batch_size": 64,
        "lr": 0.01,
        "weight_decay": 0.01,
        "ssm_lr": 1e-3,
        "ssm_weight_decay": 0.0,
        "scheduler": "plateau",
        "warmup_steps": 0,
        "plateau_patience": 5,
        "plateau_factor": 0.2,
        "min_lr": 0.0,
        "grad_clip": 0.0,
        "max_steps_per_epoch": 0,
        "bucket": 0,
        "log_every": 50,
    },
    "pretrain": {},
    "main": {},
    "run": {
        "seeds": [0],
        "device": "auto",
        "threads": 0,
        "deterministic": True,
        "checkpoint_every": 1,
    },
}

_TRAIN_KEYS = set(DEFAULTS["train"])
_CHOICES = {
    ("model", "mode"): ("exp", "softmax"),
    ("model", "init"): ("skew-hippo", "s4d-lin", "s4d-inv", "random"),
    ("model", "pool"): ("mean",),
    ("reduce", "gramians"): ("discrete", "continuous", "finite"),
    ("reduce", "structure"): ("channel", "shared"),
    ("train", "scheduler"): ("plateau", "cosine", "linear", "constant"),
}
_POSITIVE_INT = {
    ("model", "d_model"),
    ("model", "n_layers"),
    ("model", "d_state"),
    ("reduce", "order"),
    ("train", "epochs"),
    ("train", "batch_size"),
    ("train", "eval_batch_size"),
    ("run", "checkpoint_every"),
}


def _presets_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "presets"


def available_presets() -> list[str]:
    """Names of the presets shipped in ``mor_torch/presets``."""
    return sorted(p.stem for p in _presets_dir().glob("*.toml"))


def merge(base: dict, update: dict) -> dict:
    """Recursive dictionary merge; ``update`` wins; inputs are not modified."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_preset(name_or_path: str | Path) -> dict:
    """Read a preset by name (``"smoke"``) or by path to a TOML file, merged over the defaults."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        path = _presets_dir() / f"{name_or_path}.toml"
        if not path.is_file():
            raise ConfigError(f"unknown preset {str(name_or_path)!r}; available: {', '.join(available_presets())}")
    elif not path.is_file():
        raise ConfigError(f"preset file {str(path)!r} does not exist")
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"preset {str(path)!r} is not valid TOML: {exc}") from exc
    data.setdefault("preset", path.stem)
    return merge(DEFAULTS, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parse ``"section.key=value"`` into (``["section", "key"]``, value).

    The value is read as a TOML value; if that fails it is taken as a string.
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


def apply_overrides(config: dict, overrides: list[str] | dict[str, Any]) -> dict:
    """Return a copy of ``config`` with dotted-key overrides applied.

    ``overrides`` is a list of ``"a.b=value"`` strings or a mapping ``{"a.b": value}``.
    Sections must exist; leaf keys are checked by :func:`validate`.
    """
    out = copy.deepcopy(config)
    items = (
        [parse_override(o) for o in overrides]
        if isinstance(overrides, list)
        else [(k.split("."), v) for k, v in overrides.items()]
    )
    for parts, value in items:
        node = out
        for i, part in enumerate(parts[:-1]):
            nxt = node.get(part)
            if nxt is None:
                if parts[:2] != ["task", "options"] or i < 2:
                    raise ConfigError(f"unknown configuration section {'.'.join(parts[: i + 1])!r}")
                nxt = node[part] = {}
            if not isinstance(nxt, dict):
                raise ConfigError(f"{'.'.join(parts[: i + 1])!r} is a value, not a section")
            node = nxt
        node[parts[-1]] = value
    return out


def _check_type(where: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        value = float(value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
    elif isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
    return value


def validate(config: dict) -> dict:
    """Check keys, types and choices; return a normalised copy (ints promoted to floats where due)."""
    out = copy.deepcopy(config)
    for section, value in out.items():
        if section == "preset":
            if not isinstance(value, str):
                raise ConfigError(f"preset must be a string, got {value!r}")
            continue
        if section not in DEFAULTS:
            raise ConfigError(f"unknown configuration section {section!r}; known: {', '.join(DEFAULTS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"configuration section {section!r} must be a table")
        for key in value:
            if section in ("pretrain", "main"):
                if key not in _TRAIN_KEYS:
                    raise ConfigError(f"unknown key {section}.{key}; known: {', '.join(sorted(_TRAIN_KEYS))}")
                value[key] = _check_type(f"{section}.{key}", value[key], DEFAULTS["train"][key])
            elif key not in DEFAULTS[section]:
                raise ConfigError(f"unknown key {section}.{key}; known: {', '.join(sorted(DEFAULTS[section]))}")
            elif not (section == "task" and key == "options"):
                value[key] = _check_type(f"{section}.{key}", value[key], DEFAULTS[section][key])
    for (section, key), choices in _CHOICES.items():
        if out[section][key] not in choices:
            raise ConfigError(f"{section}.{key} must be one of {choices}, got {out[section][key]!r}")
    for section in ("train", "pretrain", "main"):
        if section in out and "scheduler" in out[section]:
            if out[section]["scheduler"] not in _CHOICES[("train", "scheduler")]:
                raise ConfigError(
                    f"{section}.scheduler must be one of {_CHOICES[('train', 'scheduler')]}, "
                    f"got {out[section]['scheduler']!r}"
                )
    for section, key in _POSITIVE_INT:
        if out[section][key] < 1:
            raise ConfigError(f"{section}.{key} must be >= 1, got {out[section][key]}")
    if out["reduce"]["order"] >= out["model"]["d_state"]:
        raise ConfigError(
            f"reduce.order ({out['reduce']['order']}) must be smaller than model.d_state ({out['model']['d_state']})"
        )
    bsp = out["reduce"]["baseline_shared_poles"]
    if bsp not in ("match", "true", "false"):
        raise ConfigError(f"reduce.baseline_shared_poles must be 'match', 'true' or 'false', got {bsp!r}")
    seeds = out["run"]["seeds"]
    if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise ConfigError(f"run.seeds must be a non-empty list of non-negative integers, got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"run.seeds has duplicates: {seeds!r}")
    if not 0.0 <= out["model"]["dropout"] < 1.0:
        raise ConfigError(f"model.dropout must be in [0, 1), got {out['model']['dropout']}")
    if not 0.0 < out["model"]["dt_min"] <= out["model"]["dt_max"]:
        raise ConfigError("model.dt_min and model.dt_max must satisfy 0 < dt_min <= dt_max")
    return out


def resolve_config(preset: str | Path = "listops-mini", overrides: list[str] | dict[str, Any] | None = None) -> dict:
    """Preset merged over the defaults, overrides applied, validated."""
    config = load_preset(preset)
    if overrides:
        config = apply_overrides(config, overrides)
    return validate(config)


def stage_train_config(config: dict, stage: str) -> dict:
    """The training recipe for a stage: ``train`` merged with the ``pretrain`` or ``main`` section."""
    if stage not in ("pretrain", "main"):
        raise ConfigError(f"stage must be 'pretrain' or 'main', got {stage!r}")
    return merge(config["train"], config.get(stage, {}))


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {value!r} as TOML")


def dumps_toml(config: dict) -> str:
    """Serialise a configuration (nested tables of scalars and lists) as TOML."""
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

    top = {k: v for k, v in config.items() if not isinstance(v, dict)}
    for k, v in top.items():
        lines.append(f"{k} = {_toml_value(v)}")
    if top:
        lines.append("")
    table("", {k: v for k, v in config.items() if isinstance(v, dict)})
    return "\n".join(lines)
