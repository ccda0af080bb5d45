"""The import settings are strict like the others: a typo stops start-up naming the variable."""

import pytest

from tests.fast.test_settings import start


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"ETL_URL_ALLOWED_NETWORKS": "10.0.0.1/8"},
            "ETL_URL_ALLOWED_NETWORKS: '10.0.0.1/8' is not an IP network",
        ),
        (
            {"ETL_URL_ALLOWED_NETWORKS": "intranet"},
            "ETL_URL_ALLOWED_NETWORKS: 'intranet' is not an IP network",
        ),
        (
            {"ETL_URL_ALLOWED_HOSTS": "a.example,,b.example"},
            "ETL_URL_ALLOWED_HOSTS='a.example,,b.example' has",
        ),
        ({"ETL_MAX_LINE_BYTES": "1000000"}, "ETL_MAX_LINE_BYTES=1000000 is above the maximum of 131072"),
        ({"ETL_MAX_SECONDS": "600"}, "ETL_MAX_SECONDS=600.0 is above the maximum of 550"),
        ({"ETL_MAX_BYTES": "0"}, "ETL_MAX_BYTES=0 is below the minimum of 1"),
        ({"ETL_QUEUE": "celery"}, "ETL_QUEUE must differ from CELERY_TASK_DEFAULT_QUEUE"),
    ],
)
def test_a_bad_import_setting_stops_start_up_naming_the_variable(overrides, message):
    result = start(**overrides)
    assert result.returncode != 0
    assert message in result.stderr


def test_url_imports_are_off_and_no_network_is_excepted_by_default():
    result = start(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.ETL_URL_ALLOWED_HOSTS, s.ETL_URL_ALLOWED_NETWORKS)",
        ETL_URL_ALLOWED_HOSTS=None,  # the fast tier's own values, inherited from this process
        ETL_URL_ALLOWED_NETWORKS=None,
    )
    assert result.stdout.strip().splitlines()[-1] == "[] []", result.stderr
