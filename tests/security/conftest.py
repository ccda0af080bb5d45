import pytest

from tests.stack.stack import running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("security")) as stack:
        yield stack
