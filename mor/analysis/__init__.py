"""Analysis of systems: norms and responses.

======================  ==============================================================
``norms``               the certified H-infinity norm (level-set method)
``h2``                  the H2 norm
``response``            transfer function, frequency and impulse responses
``_frequency``          the one transfer-function evaluator (and the rounding floor)
======================  ==============================================================
"""

from .h2 import h2_norm
from .norms import hinf_norm
from .response import frequency_response, impulse_response, transfer_function

__all__ = ["frequency_response", "h2_norm", "hinf_norm", "impulse_response", "transfer_function"]
