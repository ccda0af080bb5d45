import pytest

from tests.stack.stack import running_stack


def pytest_collection_modifyitems(items):
    """Tests marked destroys_stack (backup and restore: `down -v`) run after every other test of
    the shared stack; the rest keep their order."""
    items.sort(key=lambda item: item.get_closest_marker("destroys_stack") is not None)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The stack a user starts with the README's commands, shared by the Compose and first-hour tiers
    when one pytest session runs both (make test-compose); the fault tier starts its own."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        stack.act_as_staff()
        yield stack
