"""Analysis of systems: norms and responses.

======================  ==============================================================
``norms``               the certified H-infinity norm (level-set method)
``h2``                  the H2 norm
``response``            transfer function, frequency and impulse responses
``timeresponse``        step and forced (simulated) responses, exact zero-order hold
``_frequency``          the one transfer-function evaluator (and the rounding floor)
======================  ==============================================================
"""

from .h2 import h2_norm
from .norms import hinf_norm
from .response import frequency_response, impulse_response, transfer_function
from .timeresponse import TimeResponse, forced_response, step_response

__all__ = [
    "TimeResponse",
    "forced_response",
    "frequency_response",
    "h2_norm",
    "hinf_norm",
    "impulse_response",
    "step_response",
    "transfer_function",
]
