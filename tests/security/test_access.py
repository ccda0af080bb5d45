"""Who may call the API, tried from outside through nginx's published port: anonymous changes
refused, tokens and sessions accepted, CSRF enforced, budgets answering 429 with Retry-After."""

import http.cookiejar
import json
import re
import urllib.error
import urllib.request

import pytest

from tests.polling import early_in_a_window
from tests.stack.stack import STAFF_USER, Response, Stack

WRITES = [
    ("/api/cities/", {"name": "Intruder", "latitude": 1.0, "longitude": 1.0}),
    ("/api/cities/1/refresh/", {}),
    ("/api/pipeline/refresh-all/", {}),
    ("/api/pipeline/etl/", {"source": "cities.csv"}),
]


@pytest.fixture(scope="module")
def staff(stack) -> Stack:
    stack.act_as_staff()
    return stack


@pytest.fixture
def fresh_budgets(staff):
    """Request budgets are shared by the whole stack (that is the point): start and end empty, so
    tests after this one are not refused for what it spent."""
    staff.django("from access.budgets import budgets_clear; budgets_clear(); print('ok')")
    yield
    staff.django("from access.budgets import budgets_clear; budgets_clear(); print('ok')")


class Browser:
    """A person's browser: cookies kept, CSRF token read from the pages, no API token."""

    def __init__(self, stack: Stack):
        self.stack = stack
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))

    def request(
        self, method: str, path: str, data: bytes | None = None, headers: dict | None = None
    ) -> Response:
        request = urllib.request.Request(
            self.stack.url + path, data=data, method=method, headers=headers or {}
        )
        try:
            with self.opener.open(request, timeout=30) as response:
                return Response(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read(), dict(error.headers))

    def login_attempt(self, password: str) -> Response:
        page = self.request("GET", "/admin/login/")
        token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body).group(1).decode()
        form = f"csrfmiddlewaretoken={token}&username={STAFF_USER}&password={password}&next=/"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", "/admin/login/?next=/", form.encode(), headers)

    def csrf_token(self) -> str:
        page = self.request("GET", "/")
        return re.search(rb'name="csrf-token" content="([^"]+)"', page.body).group(1).decode()


def count(stack: Stack, table: str) -> int:
    return int(stack.sql(f"SELECT count(*) FROM {table}"))


@pytest.mark.parametrize(("path", "body"), WRITES)
def test_anonymous_changes_are_refused_with_a_json_401(staff, path, body):
    cities, runs = count(staff, "weather_city"), count(staff, "weather_pipelinerun")
    response = staff.http("POST", path, body, anonymous=True)
    assert response.status == 401
    assert response.json()["message"] == "Authentication credentials were not provided."
    assert response.headers["WWW-Authenticate"] == 'Token realm="api"'
    assert (count(staff, "weather_city"), count(staff, "weather_pipelinerun")) == (cities, runs)


def test_anonymous_callers_read_cities_but_not_runs(staff):
    assert staff.http("GET", "/api/cities/?limit=1", anonymous=True).status == 200
    assert staff.http("GET", "/api/runs/", anonymous=True).status == 401


@pytest.mark.parametrize("keyword", ["Token", "Bearer"])
def test_a_token_is_accepted_under_either_keyword(staff, keyword):
    headers = {"Authorization": f"{keyword} {staff.staff_token}"}
    body = {"name": f"Token {keyword}", "latitude": 12.5, "longitude": 7.5}
    created = staff.http("POST", "/api/cities/", body, anonymous=True, headers=headers)
    assert created.status == 201, created.body
    assert staff.http("GET", "/api/runs/", anonymous=True, headers=headers).status == 200
    forged = {"Authorization": f"{keyword} fbr_forged-token-value"}
    assert staff.http("GET", "/api/runs/", anonymous=True, headers=forged).status == 401


def test_a_session_is_accepted_with_its_csrf_token_and_refused_without(staff):
    browser = Browser(staff)
    assert browser.login_attempt(staff.staff_password).status == 200  # redirected to the dashboard
    body = json.dumps({"name": "Session Town", "latitude": 3.5, "longitude": 4.5}).encode()
    json_type = {"Content-Type": "application/json"}
    refused = browser.request("POST", "/api/cities/", body, json_type)
    assert refused.status == 403 and "CSRF" in refused.json()["message"]
    accepted = browser.request(
        "POST", "/api/cities/", body, {**json_type, "X-CSRFToken": browser.csrf_token()}
    )
    assert accepted.status == 201, accepted.body
    assert browser.request("GET", "/api/runs/").status == 200


def test_a_cross_site_form_cannot_start_a_full_refresh_with_a_signed_in_users_cookie(staff):
    browser = Browser(staff)
    browser.login_attempt(staff.staff_password)
    runs = count(staff, "weather_pipelinerun")
    headers = {"Content-Type": "text/plain", "Origin": "https://attacker.example"}
    response = browser.request("POST", "/api/pipeline/refresh-all/", b"x=1", headers)
    assert response.status == 403
    assert count(staff, "weather_pipelinerun") == runs


def test_an_address_over_its_budget_gets_429_with_retry_after(staff, fresh_budgets):
    rate = staff.django("from django.conf import settings; print(settings.API_THROTTLE_ANON_RATE)")
    limit = int(rate.split("/")[0])
    statuses = []
    for _ in range(limit + 20):
        response = staff.http("GET", "/api/cities/?limit=1", anonymous=True)
        statuses.append(response.status)
        if response.status == 429:
            break
    assert statuses[-1] == 429, f"{len(statuses)} requests under {rate}, none refused"
    assert set(statuses[:-1]) == {200}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json()["message"].startswith("Request was throttled")
    # A client naming another address of its own does not get a new budget: nginx's is used.
    spoofed = staff.http(
        "GET", "/api/cities/?limit=1", anonymous=True, headers={"X-Forwarded-For": "203.0.113.9"}
    )
    assert spoofed.status == 429
    # The budget is the address's: a signed-in caller has a budget of their own.
    assert staff.http("GET", "/api/cities/?limit=1").status == 200


def test_admin_logins_over_the_budget_are_refused_with_429(staff, fresh_budgets):
    rate = staff.django("from django.conf import settings; print(settings.ADMIN_LOGIN_RATE)")
    browser = Browser(staff)
    # The shipped rate's window is a minute: a loop across its end would start a new budget (a CI run,
    # once). Two HTTP requests per attempt through nginx, on a busy machine: 40 s is ample.
    assert rate.endswith("/minute"), rate
    early_in_a_window(needed=40)
    attempts = [browser.login_attempt("wrong-password").status for _ in range(int(rate.split("/")[0]) + 1)]
    assert set(attempts[:-1]) == {200} and attempts[-1] == 429  # 200: the form again, with its error
    refused = browser.login_attempt(staff.staff_password)
    assert refused.status == 429 and int(refused.headers["Retry-After"]) >= 1
