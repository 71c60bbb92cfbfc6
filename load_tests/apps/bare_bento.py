"""Baseline: the same iris model as a plain BentoML service (``bentoml serve load_tests.apps.bare_bento:BareIris``).

``POST /predict`` answers what the gateway answers minus the stamps (predictions and class probabilities,
as a pydantic model with fields, the cheaper of BentoML's return types: see PERF-NOTES.md);
``POST /noop`` takes the same body and skips the model (BentoML's own floor). Configured like the
gateway's service: one worker, no access log. The model tag comes from ``BENCH_MODEL_TAG``.
"""

from __future__ import annotations

import os

import bentoml
import numpy as np
from pydantic import BaseModel


class Prediction(BaseModel):
    predictions: list[int]
    probabilities: list[list[float]]


_NOOP = Prediction(predictions=[0], probabilities=[[1.0, 0.0, 0.0]])


@bentoml.service(name="bare_iris", workers=1, logging={"access": {"enabled": False}}, traffic={"timeout": 60})
class BareIris:
    def __init__(self) -> None:
        self.model = bentoml.sklearn.load_model(os.environ.get("BENCH_MODEL_TAG", "iris:v1"))

    @bentoml.api
    async def predict(self, inputs: list[list[float]]) -> Prediction:
        features = np.asarray(inputs, dtype=np.float64)
        return Prediction(
            predictions=self.model.predict(features).tolist(),
            probabilities=self.model.predict_proba(features).tolist(),
        )

    @bentoml.api
    async def noop(self, inputs: list[list[float]]) -> Prediction:
        return _NOOP
