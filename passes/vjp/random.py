"""VJP rule of the random op: ``rand_uniform`` depends on no float input, so no gradient flows.

Its inputs (seed and offset) are int64, which autodiff never differentiates; the rule is
registered explicitly so that the op is on record as handled rather than missing.
"""

from __future__ import annotations

from . import vjp


@vjp("rand_uniform")
def _rand_uniform(b, node, grad, needs):
    return None, None
