"""The stack behind a real TLS terminator (docker-compose.tls.yml), from a client's side: what
docs/security.md's "The terminator this repository ships" table says, one test per row."""

import base64
import http.client
import json
import re
import ssl
import urllib.parse
from dataclasses import dataclass

import pytest

from tests.tls.conftest import SITE


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def cookies(self) -> dict[str, str]:
        """Each Set-Cookie by name: its whole line (value and attributes)."""
        return {line.split("=", 1)[0]: line for line in self.headers.get_all("Set-Cookie") or []}


def https(stack, context, method, path, *, headers=None, body=None) -> Answer:
    connection = http.client.HTTPSConnection(SITE, stack.tls_port, context=context, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def plain(port, path, *, headers=None) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def origin(stack) -> str:
    return f"https://{SITE}:{stack.tls_port}"


def attributes(cookie_line: str) -> set[str]:
    return {part.strip().split("=", 1)[0].lower() for part in cookie_line.split(";")[1:]}


def login_form(stack, context) -> tuple[str, str]:
    """The admin login page's CSRF cookie and its form's token."""
    page = https(stack, context, "GET", "/admin/login/")
    assert page.status == 200
    cookie = page.cookies()["csrftoken"].split(";", 1)[0]
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)[1].decode()
    return cookie, token


def post_login(stack, context, cookie, token, *, from_origin) -> Answer:
    stack.act_as_staff()
    form = urllib.parse.urlencode({
        "username": "stack-staff", "password": stack.staff_password,
        "csrfmiddlewaretoken": token, "next": "/admin/",
    })  # fmt: skip
    headers = {
        "Cookie": cookie, "Origin": from_origin, "Referer": f"{from_origin}/admin/login/",
        "Content-Type": "application/x-www-form-urlencoded",
    }  # fmt: skip
    return https(stack, context, "POST", "/admin/login/?next=/admin/", headers=headers, body=form)


def test_plain_http_is_redirected_to_the_same_path_on_https(stack):
    answer = plain(stack.tls_http_port, "/admin/login/?next=/admin/", headers={"Host": SITE})
    assert answer.status == 301
    assert answer.headers["Location"] == f"{origin(stack)}/admin/login/?next=/admin/"
    # The terminator answers itself: nothing of the app, no cookie, on plain HTTP.
    assert answer.headers.get_all("Set-Cookie") is None


def test_the_certificate_is_served_and_checked_against_its_ca(stack, trusting):
    assert https(stack, trusting, "GET", "/nginx-health").status == 200
    # A client that does not know the run's CA refuses the certificate: it is really checked.
    with pytest.raises(ssl.SSLCertVerificationError):
        https(stack, ssl.create_default_context(), "GET", "/nginx-health")


def test_https_answers_carry_hsts(stack, trusting):
    answer = https(stack, trusting, "GET", "/")
    assert answer.status == 200
    assert answer.headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_the_csrf_cookie_is_secure_and_httponly(stack, trusting):
    page = https(stack, trusting, "GET", "/admin/login/")
    assert {"secure", "httponly"} <= attributes(page.cookies()["csrftoken"])


def test_admin_login_over_https_sets_a_secure_httponly_session(stack, trusting):
    cookie, token = login_form(stack, trusting)
    answer = post_login(stack, trusting, cookie, token, from_origin=origin(stack))
    assert answer.status == 302, answer.body[:500]
    assert answer.headers["Location"] == "/admin/"
    session = answer.cookies()["sessionid"]
    assert {"secure", "httponly"} <= attributes(session)
    admin = https(stack, trusting, "GET", "/admin/", headers={"Cookie": session.split(";", 1)[0]})
    assert admin.status == 200 and b"stack-staff" in admin.body


def test_a_post_from_a_foreign_origin_is_refused(stack, trusting):
    cookie, token = login_form(stack, trusting)
    answer = post_login(stack, trusting, cookie, token, from_origin="https://elsewhere.example")
    assert answer.status == 403
    assert "sessionid" not in answer.cookies()


def test_flower_works_through_the_terminator(stack, trusting):
    password = base64.b64encode(f"admin:{stack.flower_password}".encode()).decode()
    assert https(stack, trusting, "GET", "/flower/").status == 401
    page = https(stack, trusting, "GET", "/flower/", headers={"Authorization": f"Basic {password}"})
    assert page.status == 200 and b"Flower" in page.body
    workers = https(
        stack, trusting, "GET", "/flower/api/workers", headers={"Authorization": f"Basic {password}"}
    )
    assert workers.status == 200 and json.loads(workers.body)


def test_a_clients_forwarded_proto_straight_to_nginx_gets_no_secure_treatment(stack):
    # The same request the terminator would make, but from outside, on nginx's own published port.
    answer = plain(
        stack.port, "/admin/login/", headers={"Host": f"{SITE}:{stack.port}", "X-Forwarded-Proto": "https"}
    )
    # Django sees plain HTTP: it redirects to HTTPS and serves nothing, sends no HSTS and no cookie.
    assert answer.status == 301
    assert answer.headers["Location"].startswith("https://")
    assert answer.headers["Strict-Transport-Security"] is None
    assert answer.headers.get_all("Set-Cookie") is None


def test_the_terminator_overwrites_a_clients_forwarded_headers(stack, trusting):
    chosen = "client-chosen-request-id"
    answer = https(
        stack,
        trusting,
        "GET",
        "/nginx-health",
        headers={"X-Request-Id": chosen, "X-Forwarded-For": "203.0.113.9"},
    )
    request_id = answer.headers["X-Request-Id"]
    assert answer.status == 200 and request_id != chosen and re.fullmatch(r"[0-9a-f]{32}", request_id)
    # /nginx-health is not logged: a logged path, found in nginx's log by the id the terminator gave it.
    answer = https(stack, trusting, "GET", "/api/cities/", headers={"X-Forwarded-For": "203.0.113.9"})
    request_id = answer.headers["X-Request-Id"]
    lines = stack.compose("logs", "--no-color", "--no-log-prefix", "nginx").stdout.splitlines()
    (line,) = [json.loads(line) for line in lines if request_id in line and line.startswith("{")]
    # The peer the terminator saw (Docker's bridge, for a client on this host), neither the client's
    # claim nor the terminator's own 127.0.0.1.
    assert line["remote_addr"] not in ("203.0.113.9", "127.0.0.1")


def test_the_dashboards_session_changes_work_with_the_httponly_csrf_cookie(stack, trusting):
    # The dashboard's script sends the token from its page's meta tag (dashboard.js), never from the
    # cookie, which it could not read: a session change over HTTPS goes through with it, not without.
    cookie, token = login_form(stack, trusting)
    login = post_login(stack, trusting, cookie, token, from_origin=origin(stack))
    jar = {name: line.split(";", 1)[0] for name, line in login.cookies().items()}
    cookies = "; ".join([jar.get("csrftoken", cookie), jar["sessionid"]])
    page = https(stack, trusting, "GET", "/", headers={"Cookie": cookies})
    meta = re.search(rb'<meta name="csrf-token" content="([^"]+)"', page.body)[1].decode()
    cities = json.loads(https(stack, trusting, "GET", "/api/cities/", headers={"Cookie": cookies}).body)
    city = (cities["results"] if isinstance(cities, dict) else cities)[0]["id"]
    headers = {"Cookie": cookies, "Origin": origin(stack), "Content-Type": "application/json"}
    path = f"/api/cities/{city}/refresh/"
    refused = https(stack, trusting, "POST", path, headers=headers, body="{}")
    assert refused.status == 403
    accepted = https(stack, trusting, "POST", path, headers={**headers, "X-CSRFToken": meta}, body="{}")
    assert accepted.status in (200, 202), accepted.body[:300]
