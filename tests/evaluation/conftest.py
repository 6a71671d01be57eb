import pytest

from tests.evaluation.helpers import make_tiny_run


@pytest.fixture(scope="package")
def tiny_run(tmp_path_factory):
    return make_tiny_run(tmp_path_factory.mktemp("eval_runs"), methods=("privgan", "gan", "dpgan"))
