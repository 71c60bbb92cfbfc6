"""The concurrency limit's endpoint labels: a fixed set of route templates, whatever path a client sends."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from service.rest.overload import shed_endpoint

TEMPLATES = {
    "/predict",
    "/feedback",
    "/v2",
    "/v2/models/{name}/infer",
    "/v2/models/{name}/versions/{version}/infer",
    "/v1",
    "/v1/models/{name}:predict",
    "other",
}


def test_each_data_plane_route_is_labelled_by_its_template() -> None:
    """Model names and versions in the path never reach the label; each route keeps its own template."""
    assert shed_endpoint("/predict") == "/predict"
    assert shed_endpoint("/feedback") == "/feedback"
    assert shed_endpoint("/v2/models/iris/infer") == "/v2/models/{name}/infer"
    assert shed_endpoint("/v2/models/iris/versions/v3/infer") == "/v2/models/{name}/versions/{version}/infer"
    assert shed_endpoint("/v1/models/iris:predict") == "/v1/models/{name}:predict"
    assert shed_endpoint("/v2/repository/index") == "/v2"
    assert shed_endpoint("/predictions") == "other"


@given(st.text(max_size=200))
def test_any_path_maps_to_one_of_a_fixed_set_of_labels(path: str) -> None:
    """A client cannot create a new metric series by choosing its path."""
    assert shed_endpoint(path) in TEMPLATES
