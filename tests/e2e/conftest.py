import pytest

from tests.stack.stack import running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # A new user's stack: no cities yet; they seed them themselves.
    with running_stack(tmp_path_factory.mktemp("e2e"), SEED_CITIES="false") as stack:
        stack.act_as_staff()
        yield stack
