import pytest

from tests.stack.stack import running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One real stack for the session, torn down at the end even when a test fails."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        stack.act_as_staff()
        yield stack
