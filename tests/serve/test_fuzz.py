"""schemathesis generates requests from the service's own OpenAPI spec (valid ones and, in
negative mode, ones that break it): none may get a 5xx."""
import pytest
from hypothesis import HealthCheck, given, settings

from trainlab.serve.app import create_app
from trainlab.serve.predictor import Predictor

schemathesis = pytest.importorskip("schemathesis")


@pytest.fixture(scope="module")
def operations(image_run):
    app = create_app(Predictor(image_run.path), max_body_bytes=256 * 1024)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    return {op.ok().label: op.ok() for op in schema.get_all_operations()}


def _fuzz(op, mode: str, examples: int):
    from schemathesis.generation import GenerationMode

    strategy = op.as_strategy(generation_mode=GenerationMode(mode))
    seen = []

    @given(case=strategy)
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        response = case.call()
        seen.append(response.status_code)
        assert response.status_code < 500, (case.body, response.text)

    check()
    return seen


@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_no_5xx_on_generated_requests(operations, mode):
    assert "POST /predict" in operations
    statuses = []
    for label, op in operations.items():
        if mode == "negative" and label != "POST /predict":
            continue  # the GET routes take nothing that could be broken
        statuses += _fuzz(op, mode, 80 if label == "POST /predict" else 10)
    assert statuses and max(statuses) < 500
    if mode == "negative":
        assert any(400 <= s < 500 for s in statuses)
