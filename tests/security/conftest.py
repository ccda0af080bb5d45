import pytest

from tests.stack.stack import running_stack

# 127.0.0.1 stands for a TLS terminator in front of nginx: requests made from inside nginx's own
# container are a trusted proxy's, requests through the published port are an outsider's.
TRUSTED_PROXY = "127.0.0.1"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One real, hardened stack for the security tier, torn down at the end even when a test fails."""
    with running_stack(tmp_path_factory.mktemp("security"), NGINX_TRUSTED_PROXIES=TRUSTED_PROXY) as stack:
        yield stack
