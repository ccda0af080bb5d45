"""Who may call the API: tokens (either keyword) and sessions with CSRF; anonymous callers read
cities while API_PUBLIC_READS is on and change nothing; runs, tasks and imports are for staff."""

import io
import uuid
from datetime import timedelta

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from access.models import ApiToken
from access.tokens import api_token_issue
from tests.fast.conftest import STAFF_PASSWORD
from weather.models import City, PipelineRun

WRITES = [
    ("/api/cities/", {"name": "Lyon", "latitude": 45.76, "longitude": 4.83}),
    ("/api/cities/{id}/refresh/", {}),
    ("/api/pipeline/refresh-all/", {}),
    ("/api/pipeline/etl/", {"source": "two.csv"}),
]
STAFF_READS = ["/api/runs/", "/api/runs/1/", f"/api/tasks/{uuid.uuid4()}/"]


@pytest.fixture
def paris(db):
    return City.objects.create(name="Paris", country="FR", latitude=48.85, longitude=2.35)


def token_client(token: str, keyword: str = "Token") -> Client:
    return Client(raise_request_exception=False, headers={"Authorization": f"{keyword} {token}"})


def user_with(*codenames: str, username: str = "plain"):
    user = get_user_model().objects.create_user(username, password="a-long-password-for-tests")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.mark.parametrize(("path", "body"), WRITES)
def test_anonymous_writes_are_a_401_json_with_a_challenge_and_change_nothing(anonymous, paris, path, body):
    response = anonymous.post(path.format(id=paris.id), body, content_type="application/json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Token realm="api"'
    assert response.json() == {"message": "Authentication credentials were not provided.", "extra": {}}
    assert City.objects.count() == 1 and not PipelineRun.objects.exists()


def test_anonymous_callers_read_cities_and_weather_while_public_reads_are_on(anonymous, paris):
    assert anonymous.get("/api/cities/").status_code == 200
    assert anonymous.get(f"/api/cities/{paris.id}/").status_code == 200
    assert anonymous.get(f"/api/cities/{paris.id}/weather/").status_code == 200
    assert anonymous.get("/api/schema/").status_code == 200


def test_with_public_reads_off_reading_cities_needs_an_account(anonymous, paris, settings, staff_token):
    settings.API_PUBLIC_READS = False
    assert anonymous.get("/api/cities/").status_code == 401
    assert token_client(staff_token).get("/api/cities/").status_code == 200


@pytest.mark.parametrize("path", STAFF_READS)
def test_runs_and_tasks_are_for_staff_only(anonymous, db, path):
    assert anonymous.get(path).status_code == 401
    token = api_token_issue(user=user_with("view_city"))
    response = token_client(token).get(path)
    assert response.status_code == 403
    assert response.json()["message"].startswith("Only staff accounts")


@pytest.mark.parametrize("keyword", ["Token", "Bearer", "bearer"])
def test_a_staff_token_is_accepted_under_either_keyword(staff_token, db, keyword):
    client = token_client(staff_token, keyword)
    response = client.post(
        "/api/cities/", {"name": "Lyon", "latitude": 45.7, "longitude": 4.8}, "application/json"
    )
    assert response.status_code == 201, response.content
    assert client.get("/api/runs/").status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Token fbr_not-a-real-token", "Bearer", "Token two parts", "Token caf\u00e9".encode().decode("latin-1")],
)
def test_a_bad_token_is_a_401_never_an_anonymous_pass(db, header):
    client = Client(raise_request_exception=False, headers={"Authorization": header})
    assert client.get("/api/cities/").status_code == 401


def test_a_revoked_token_or_an_inactive_user_is_refused(staff_user, staff_token):
    client = token_client(staff_token)
    assert client.get("/api/runs/").status_code == 200
    staff_user.is_active = False
    staff_user.save()
    assert client.get("/api/runs/").status_code == 401
    staff_user.is_active = True
    staff_user.save()
    call_command("api_token", "staff", "--revoke", stderr=io.StringIO())
    assert client.get("/api/runs/").status_code == 401


def test_a_token_older_than_its_max_age_is_refused(staff_user, staff_token, settings):
    # The shipped 90 days: a day short passes, a day over is refused, saying what to do.
    assert settings.API_TOKEN_MAX_AGE_DAYS == 90
    client = token_client(staff_token)
    ApiToken.objects.update(created_at=timezone.now() - timedelta(days=89))
    assert client.get("/api/runs/").status_code == 200
    ApiToken.objects.update(created_at=timezone.now() - timedelta(days=91))
    response = client.get("/api/runs/")
    assert response.status_code == 401 and "expired" in response.json()["message"]


def test_a_password_change_revokes_the_users_tokens(staff_user, staff_token):
    client = token_client(staff_token)
    assert client.get("/api/runs/").status_code == 200
    staff_user.set_password("a-new-password-for-tests")
    staff_user.save()
    assert client.get("/api/runs/").status_code == 401
    # A token issued after the change works.
    assert token_client(api_token_issue(user=staff_user)).get("/api/runs/").status_code == 200


def test_a_write_needs_its_django_permission_not_only_an_account(paris):
    plain = token_client(api_token_issue(user=user_with()))
    body = {"name": "Lyon", "latitude": 45.7, "longitude": 4.8}
    assert plain.post("/api/cities/", body, "application/json").status_code == 403
    assert plain.post(f"/api/cities/{paris.id}/refresh/", {}, "application/json").status_code == 403
    allowed = token_client(api_token_issue(user=user_with("add_city", username="editor")))
    assert allowed.post("/api/cities/", body, "application/json").status_code == 201
    assert allowed.post("/api/pipeline/refresh-all/", {}, "application/json").status_code == 403


def test_tokens_are_stored_as_digests_only(staff_user):
    token = api_token_issue(user=staff_user)
    row = ApiToken.objects.get(user=staff_user)
    assert token.startswith("fbr_") and len(token) > 40
    assert token not in (row.digest, row.prefix) and len(row.digest) == 64
    assert row.prefix == token[:12]


def test_the_command_issues_a_token_for_an_existing_user_and_says_so(staff_user):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token", "staff", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert "Issued a new API token for 'staff' (staff)" in err.getvalue()
    assert token_client(token).get("/api/runs/").status_code == 200


def test_the_command_creates_no_user_for_an_unknown_name(db):
    with pytest.raises(CommandError, match="No user named 'nobody'; nothing was created"):
        call_command("api_token", "nobody")
    assert not get_user_model().objects.exists() and not ApiToken.objects.exists()


def test_a_session_write_needs_the_csrf_token(staff_user):
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(staff_user)
    body = {"name": "Lyon", "latitude": 45.7, "longitude": 4.8}
    refused = browser.post("/api/cities/", body, "application/json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["message"]
    page = browser.get("/")  # the dashboard hands the page its token
    token = page.context["csrf_token"]
    accepted = browser.post("/api/cities/", body, "application/json", headers={"X-CSRFToken": str(token)})
    assert accepted.status_code == 201, accepted.content


def test_a_cross_site_form_cannot_start_a_refresh_with_the_users_session(staff_user):
    # What a hostile page's <form method=post enctype=text/plain> sends along with the cookie.
    browser = Client(enforce_csrf_checks=True, raise_request_exception=False)
    browser.force_login(staff_user)
    response = browser.post(
        "/api/pipeline/refresh-all/",
        "x=1",
        content_type="text/plain",
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403
    assert not PipelineRun.objects.exists()


def test_a_body_the_api_reads_must_be_json(api, db):
    response = api.post("/api/cities/", "name=Lyon", content_type="text/plain")
    assert response.status_code == 415
    assert set(response.json()) == {"message", "extra"}


def test_the_admin_login_is_rate_limited_per_address(staff_user, settings):
    settings.ADMIN_LOGIN_RATE = "3/minute"
    browser = Client()
    statuses = [
        browser.post("/admin/login/", {"username": "staff", "password": "wrong"}).status_code
        for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    refused = browser.post("/admin/login/", {"username": "staff", "password": STAFF_PASSWORD})
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert "Too many login attempts" in refused.content.decode()


def test_the_schema_declares_the_token_and_session_schemes(db):
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    schemes = schema["components"]["securitySchemes"]
    assert schemes["tokenAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": schemes["tokenAuth"]["description"],
    }
    assert schemes["bearerAuth"]["scheme"] == "bearer" and "cookieAuth" in schemes
    refresh_all = schema["paths"]["/api/pipeline/refresh-all/"]["post"]
    assert {"tokenAuth": []} in refresh_all["security"] and {} not in refresh_all["security"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_a_method_a_catalogue_view_lacks_is_a_405_for_anyone(anonymous, api, paris, method):
    for client in (anonymous, api):
        for path in (f"/api/cities/{paris.id}/", f"/api/cities/{paris.id}/weather/"):
            assert getattr(client, method)(path).status_code == 405
