import pytest

from tests.stack.stack import running_stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The stack a user starts with the README's commands, shared by the Compose and first-hour tiers
    when one pytest session runs both (make test-compose); the fault tier starts its own."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        yield stack
