"""Schemathesis generates requests from the OpenAPI schema, valid ones and ones that break it, and
sends them over real HTTP to Django's live server as a staff account (so every operation runs its
logic, not only its 401), the real worker consuming what they enqueue: none gets a 500."""

import contextlib
import itertools

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from weather.models import City

EXAMPLES_PER_OPERATION = 40


def test_no_generated_request_gets_a_server_error(live_server, worker, staff_token):
    # An id that exists, so generated paths reach the views' logic and not only their 404s.
    City.objects.create(pk=1, name="Fuzz One", latitude=1.0, longitude=1.0)
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/")
    auth = {"Authorization": f"Token {staff_token}"}
    server_errors, sent, unauthorized = [], 0, 0

    operations = [result.ok() for result in schema.get_all_operations()]
    for operation, mode in itertools.product(operations, GenerationMode):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def send(case):
            nonlocal sent, unauthorized
            response = case.call(base_url=live_server.url, timeout=30, headers=auth)
            sent += 1
            unauthorized += response.status_code == 401
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {response.request.url} {case.body!r}: {response.status_code}"
                )

        with contextlib.suppress(Unsatisfiable):  # an operation without parameters has no invalid form
            send()
    assert sent >= 400
    assert not server_errors, server_errors
    assert unauthorized == 0, "the token must reach every operation's logic"
