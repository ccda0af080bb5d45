"""nginx as the stack's edge, asked from outside (the published port) and from a trusted terminator."""

import json
import re
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from tests.security.conftest import TRUSTED_PROXY


def fetch(stack, path: str, *, method="GET", headers=None, data=None):
    request = urllib.request.Request(stack.url + path, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


# A failed admin login with a valid CSRF token and no Referer: Django checks the Referer only on
# requests it believes are HTTPS, so 403 "Referer checking failed" means "taken for HTTPS" and the
# login form again (200) means "taken for plain HTTP". Run with curl inside nginx's container
# ($1: the X-Forwarded-Proto to send; $2: the address to ask).
_LOGIN_AS = r"""
jar=$(mktemp); page=$(curl -s -c "$jar" -H 'Host: localhost' "http://$2/admin/login/")
token=$(printf '%s' "$page" | sed -n 's/.*name="csrfmiddlewaretoken" value="\([^"]*\)".*/\1/p' | head -1)
curl -s -o /dev/null -w '%{http_code}' -b "$jar" -H 'Host: localhost' -H "X-Forwarded-Proto: $1" \
  --data "csrfmiddlewaretoken=$token&username=nobody&password=wrong" "http://$2/admin/login/"
"""


def login_status_from_inside_nginx(stack, proto: str) -> str:
    return stack.compose("exec", "-T", "nginx", "bash", "-c", _LOGIN_AS, "-", proto, TRUSTED_PROXY).stdout


def login_status_from_outside(stack, proto: str) -> int:
    _, headers, page = fetch(stack, "/admin/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1).decode()
    cookie = headers["Set-Cookie"].split(";")[0]
    body = f"csrfmiddlewaretoken={token}&username=nobody&password=wrong".encode()
    form = "application/x-www-form-urlencoded"
    headers = {"Cookie": cookie, "X-Forwarded-Proto": proto, "Content-Type": form}
    return fetch(stack, "/admin/login/", method="POST", data=body, headers=headers)[0]


def test_a_clients_own_forwarded_proto_is_not_believed(stack):
    assert login_status_from_outside(stack, "https") == 200


def test_a_trusted_terminators_forwarded_proto_is_believed(stack):
    assert login_status_from_inside_nginx(stack, "https") == "403"
    assert login_status_from_inside_nginx(stack, "http") == "200"


def test_gunicorn_trusts_forwarded_headers_from_the_stacks_networks_only(stack):
    argv = stack.compose("exec", "-T", "web", "cat", "/proc/1/cmdline").stdout.split("\0")
    allowed = argv[argv.index("--forwarded-allow-ips") + 1]
    assert "*" not in allowed and all(re.fullmatch(r"[0-9.]+/\d+", net) for net in allowed.split(","))


def test_nginxs_own_errors_on_the_api_are_json(stack):
    status, headers, body = fetch(
        stack, "/api/cities/", method="POST", data=b"{" + b" " * 2_000_000 + b"}",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 413 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {"message": "The request body is too large.", "extra": {"status": 413}}


def test_every_page_has_a_content_security_policy_and_one_referrer_policy(stack):
    for path in ["/", "/admin/login/", "/api/cities/", "/static/weather/dashboard.js", "/nginx-health"]:
        _, headers, _ = fetch(stack, path)
        assert headers.get_all("Referrer-Policy") == ["same-origin"], path
        policy = headers.get_all("Content-Security-Policy")
        assert len(policy) == 1 and "script-src 'self';" in policy[0], path
        assert "frame-ancestors 'none'" in policy[0]


def test_the_dashboard_loads_nothing_the_policy_forbids(stack):
    _, _, page = fetch(stack, "/")
    html = page.decode()
    assert not re.search(r"<script(?![^>]*\bsrc=)", html), "an inline script"
    assert not re.search(r"\sstyle=|\son[a-z]+=", html), "an inline style or event handler"
    assert not re.search(r"<(script|link|img)[^>]+(src|href)=\"(https?:)?//", html), "a foreign resource"


def burst(stack, count: int, path: str, **kwargs) -> list[int]:
    """`count` requests at once: how many pass must not depend on how fast this machine is today."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: fetch(stack, path, **kwargs)[0], range(count)))


def drained(stack, path: str, *, seconds: float, **kwargs) -> None:
    """Leave the limit's allowance full for later tests: nginx leaks a full burst in burst / rate
    seconds (deterministic, whatever the machine's speed); after that a request must pass."""
    time.sleep(seconds)
    assert fetch(stack, path, **kwargs)[0] != 429


def test_admin_logins_are_rate_limited(stack):
    # No CSRF token: Django refuses what nginx lets through (403); nginx refuses the rest (429).
    statuses = burst(stack, 40, "/admin/login/", method="POST", data=b"username=x&password=y")
    assert set(statuses) <= {403, 429} and 429 in statuses, statuses
    assert fetch(stack, "/admin/login/")[0] == 200  # the form itself is never limited
    drained(stack, "/admin/login/", seconds=20 / (60 / 60) + 1, method="POST", data=b"")  # burst 20 at 60/min


def test_flower_logins_are_rate_limited_with_429(stack):
    wrong = {"Authorization": "Basic bm9ib2R5Ondyb25n"}
    statuses = burst(stack, 80, "/flower/api/workers", headers=wrong)
    assert set(statuses) <= {401, 429} and 429 in statuses, statuses
    drained(stack, "/flower/api/workers", seconds=40 / 5 + 1, headers=wrong)  # burst 40 at 5/s
