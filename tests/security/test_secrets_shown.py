"""Nothing secret shown by Flower: its workers API and each worker's Config tab hide the broker password."""


def test_flowers_workers_api_shows_no_broker_password(stack, stack_secrets):
    password = stack_secrets["rabbitmq_password"]
    response = stack.http("GET", "/flower/api/workers?refresh=1", auth=stack.flower_auth)
    assert response.status == 200 and response.json(), response.body[:300]
    assert password.encode() not in response.body
    conf = next(iter(response.json().values()))["conf"]
    assert conf["CELERY_BROKER_URL"].startswith("amqp://fbrain@rabbitmq:5672/")
    assert conf["CELERY_BROKER_PASSWORD"] == "********"


def test_a_workers_config_tab_shows_no_secret(stack, stack_secrets):
    workers = stack.http("GET", "/flower/api/workers", auth=stack.flower_auth).json()
    page = stack.http("GET", f"/flower/worker/{next(iter(workers))}", auth=stack.flower_auth)
    assert page.status == 200 and b"CELERY_BROKER_URL" in page.body
    assert not [name for name, value in stack_secrets.items() if value.encode() in page.body]


def test_flowers_broker_tab_works_with_a_management_only_user(stack, stack_secrets):
    page = stack.http("GET", "/flower/broker", auth=stack.flower_auth)
    assert page.status == 200 and b"celery" in page.body
    assert stack_secrets["rabbitmq_password"].encode() not in page.body
