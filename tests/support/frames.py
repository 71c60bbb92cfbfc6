"""Named-input training data built from scikit-learn's bundled iris, and models trained on it.

The frame has every kind a schema knows: four measurements (``number``; ``sepal_width`` with a few
nulls, so it is nullable), ``sepal_mm`` (``integer``), ``wide`` (``boolean``), ``petal_band`` (a
``category`` binned from the petal length) and ``note`` (a ``string`` of words, for a text vectorizer).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_iris
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

NUMBERS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
BANDS = ["short", "medium", "long"]
RECORD = {
    "sepal_length": 5.1,
    "sepal_width": 3.5,
    "petal_length": 1.4,
    "petal_width": 0.2,
    "sepal_mm": 51,
    "wide": True,
    "petal_band": "short",
    "note": "short petals on wide sepals",
}


def iris_frame() -> tuple[pd.DataFrame, np.ndarray]:
    """The named iris frame and its labels (0, 1, 2)."""
    data = load_iris(as_frame=True)
    X = data.data.set_axis(NUMBERS, axis=1)
    frame = X.copy()
    frame.loc[frame.index[::25], "sepal_width"] = np.nan  # a nullable number
    frame["sepal_mm"] = (X["sepal_length"] * 10).round().astype("int64")
    frame["wide"] = X["sepal_width"] > 3.0
    frame["petal_band"] = pd.cut(X["petal_length"], 3, labels=BANDS)
    frame["note"] = [
        f"{band} petals on {'wide' if wide else 'narrow'} sepals"
        for band, wide in zip(frame["petal_band"], frame["wide"], strict=True)
    ]
    return frame, data.target.to_numpy()


def text_pipeline(frame: pd.DataFrame, y: Any, *, C: float = 1.0) -> Pipeline:
    """A scikit-learn Pipeline over the whole frame: imputer, one-hot encoder and TF-IDF, then a classifier."""
    columns = ColumnTransformer(
        [
            ("numbers", SimpleImputer(), [*NUMBERS, "sepal_mm"]),
            ("flags", "passthrough", ["wide"]),
            ("band", OneHotEncoder(handle_unknown="ignore"), ["petal_band"]),
            ("note", TfidfVectorizer(), "note"),
        ]
    )
    return Pipeline([("columns", columns), ("model", LogisticRegression(C=C, max_iter=2000))]).fit(frame, y)


def tabular(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without its text column and nulls: what a gradient-boosted tree model takes directly."""
    return frame.drop(columns=["note"]).assign(sepal_width=frame["sepal_width"].fillna(3.0))
