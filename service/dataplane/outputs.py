"""What a model answers must be finite before the gateway answers or logs it.

NaN and infinities are not JSON: orjson writes them as ``null``, so a client would read
``probabilities: [null, null, null]`` as an answer and the evaluation would count it. A model returns
them for inputs outside the range it can score (1e308 makes a logistic regression's softmax NaN and a
ridge regression's prediction infinite), so such an answer is refused with 422 ``non_finite_output``
naming the model, version and row, and nothing is logged. Pure; the cost is a sum per request (of the
probabilities, which lie in [0, 1] and cannot overflow, and of float predictions), and a row-by-row
search only when a sum is not finite.
"""

from __future__ import annotations

import math
from typing import Any

from registry_client.errors import InputError

__all__ = ["check_finite"]


def check_finite(model: str, version: str, predictions: list[Any], probabilities: list[list[float]] | None) -> None:
    """Raise InputError (422, ``non_finite_output``) at the first row with a NaN or infinite output."""
    if probabilities is not None and not math.isfinite(sum(map(sum, probabilities))):
        for row, values in enumerate(probabilities):
            for value in values:
                if not math.isfinite(value):
                    _refuse(model, version, "probability", value, row)
    # Labels (ints, strings) cannot be non-finite; a regressor's floats are summed first (a sum that
    # overflows only sends us to the exact check, which then finds nothing).
    if predictions and type(predictions[0]) is float and not math.isfinite(sum(predictions)):
        for row, value in enumerate(predictions):
            if type(value) is float and not math.isfinite(value):
                _refuse(model, version, "prediction", value, row)


def _refuse(model: str, version: str, what: str, value: float, row: int) -> None:
    raise InputError(
        f"model {model!r} version {version!r} returned a non-finite {what} ({value}) for row {row}: "
        "the inputs are outside the range it can score",
        code="non_finite_output",
    )
