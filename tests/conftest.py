import pytest

from tests.stack.stack import running_stack


def pytest_collection_modifyitems(items):
    """The scan of the tier's logs runs after every other test of the shared stack, and the tests
    marked destroys_stack (backup and restore: `down -v`) after it; the rest keep their order."""

    def phase(item) -> int:
        if item.get_closest_marker("destroys_stack"):
            return 2
        return 1 if item.get_closest_marker("scans_tier_logs") else 0

    items.sort(key=phase)


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The stack a user starts with the README's commands, shared by the Compose and first-hour tiers
    when one pytest session runs both (make test-compose); the fault tier starts its own."""
    with running_stack(tmp_path_factory.mktemp("stack")) as stack:
        stack.act_as_staff()
        yield stack
