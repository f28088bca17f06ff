"""The allowed values of the pipeline's choice options: the ground floor of the configuration.

:mod:`mor_torch.lra.config` validates against these tuples, and the modules that act on a choice
(:mod:`.data.registry`, :mod:`.train`, :mod:`.compression`, :mod:`.pipeline`) import them from here,
so the configuration never imports the code it configures.  The adapter's own choices
(:data:`mor_torch.dss.MODES`, :data:`mor_torch.init.INITS`, :data:`mor_torch.reduce.GRAMIANS`, ...)
live in the adapter, one floor below.  Plain data only: this module imports nothing.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = ["BASELINE_POLES", "CURVE_METHODS", "INIT_REDUCERS", "SCHEDULERS", "TASKS"]

#: The task names :func:`mor_torch.lra.data.load_task` knows.
TASKS: tuple[str, ...] = ("smnist", "listops", "listops-mini", "imdb", "aan", "cifar", "pathfinder")

#: The learning-rate schedules of :func:`mor_torch.lra.train.make_scheduler`.
SCHEDULERS: tuple[str, ...] = ("plateau", "cosine", "linear", "constant")

#: Pole layout of the size-``r`` baseline models: like the reduced model (``"match"``), or forced.
BASELINE_POLES: tuple[str, ...] = ("match", "shared", "channel")

#: Methods of the compression curve (:mod:`mor_torch.lra.compression`): ``{name: (reducer, allocation)}``
#: for :func:`mor_torch.compress`; ``allocation=None``: one order for every channel of every layer.
CURVE_METHODS = MappingProxyType(
    {
        "bt_uniform": ("bt", None),
        "bt": ("bt", "hsv"),
        "bsp": ("bsp", "hsv"),
        "modal": ("modal", "hsv"),
        "h2": ("h2", "hsv"),
        "last": ("modal", "last"),
        "aire": ("modal", "aire"),
    }
)

#: Initialisations of the claims experiment's arms (``claims.inits``): ``{name: reducer}`` of
#: :func:`mor_torch.compress`; each arm reduces the pre-trained model to the arm's order with that
#: reducer and main-trains it (stage ``<name>_init``).  ``irka`` is the H2-optimal reducer ``h2``.
INIT_REDUCERS = MappingProxyType({"bt": "bt", "modal": "modal", "bsp": "bsp", "irka": "h2"})
