"""Which URL sources may be fetched: the allow-list, the address rule in every spelling, name
resolution without rebinding, TLS by name, and the same checks on every redirect hop."""

import pytest

from tests.fast.imports.conftest import INSIDE, OUTSIDE, read, refusal
from weather.imports.addresses import host_allowed
from weather.imports.refusals import (
    HOST_NOT_ALLOWED,
    HOST_UNRESOLVED,
    SCHEME_NOT_ALLOWED,
    TOO_MANY_REDIRECTS,
    UNREACHABLE,
    URL_IMPORTS_OFF,
    URL_INVALID,
)

CSV = b"name,latitude,longitude\nLisbon,38.72,-9.14\n"

# Every way of writing an address that is not public, with the kind the refusal names.
# {port} is the inside server's: were a spelling let through, the request would reach it.
NOT_PUBLIC = [
    ("127.0.0.1:{port}", "loopback"),
    ("localhost:{port}", "loopback"),
    ("2130706433:{port}", "loopback"),  # decimal
    ("0x7f000001:{port}", "loopback"),  # hexadecimal
    ("0177.0.0.1:{port}", "loopback"),  # octal
    ("127.1:{port}", "loopback"),  # short form
    ("[::1]:{port}", "loopback"),
    ("[::ffff:127.0.0.1]:{port}", "loopback"),  # IPv4-mapped IPv6
    ("[::ffff:7f00:1]:{port}", "loopback"),
    ("[2002:7f00:1::]:{port}", "loopback"),  # 6to4
    ("[64:ff9b::7f00:1]:{port}", "loopback"),  # NAT64
    ("[2001:0:4136:e378:8000:63bf:80ff:fffe]:{port}", "loopback"),  # Teredo, client 127.0.0.1
    ("0.0.0.0:{port}", "unspecified"),
    ("0:{port}", "unspecified"),
    ("[::]:{port}", "unspecified"),
    ("10.0.0.1", "private"),
    ("167772161", "private"),  # 10.0.0.1 in decimal
    ("012.0.0.1", "private"),  # 10.0.0.1 in octal
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("[fc00::1]", "private"),
    ("[::ffff:192.168.1.1]", "private"),
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("[fe80::1]", "link-local"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("100.64.0.1", "not public"),  # shared address space (carrier-grade NAT)
]


@pytest.fixture
def any_host(rules):
    rules.ETL_URL_ALLOWED_HOSTS = ["*"]
    return rules


@pytest.mark.parametrize(("host", "kind"), NOT_PUBLIC)
def test_an_address_that_is_not_public_is_refused_in_every_spelling(any_host, inside, host, kind):
    assert refusal(f"http://{host.format(port=inside.port)}/cities.csv") == f"source address is {kind}"
    assert inside.seen == []


@pytest.mark.parametrize(("host", "kind"), NOT_PUBLIC)
def test_a_redirect_to_an_address_that_is_not_public_is_refused(any_host, source, inside, host, kind):
    inside.answer("/cities.csv", CSV)
    url = source.redirect("/moved", f"http://{host.format(port=inside.port)}/cities.csv")
    assert refusal(url) == f"source address is {kind}"
    assert [seen.path for seen in source.seen] == ["/moved"]
    assert inside.seen == []


def test_a_name_resolving_to_any_address_that_is_not_public_is_refused(rules, dns, source):
    # One bad address among good ones refuses the name: a client might connect to any of them.
    dns.answers["files.test"] = [[OUTSIDE, "10.1.2.3"]]
    url = source.answer("/a.csv", CSV).replace(OUTSIDE, "files.test")
    assert refusal(url) == "source address is private"
    assert source.seen == []


def test_it_connects_to_the_address_it_checked_and_sends_the_name(rules, dns, source, inside):
    # DNS rebinding: the second lookup would say loopback; there must be no second lookup.
    dns.answers["files.test"] = [[OUTSIDE], [INSIDE]]
    url = source.answer("/a.csv", CSV).replace(OUTSIDE, "files.test")
    assert read(url) == CSV
    assert dns.lookups == ["files.test"]
    assert source.seen[0].headers["Host"] == f"files.test:{source.port}"
    assert inside.seen == []


def test_each_redirect_hop_is_resolved_and_checked_again(rules, dns, source, inside):
    dns.answers["files.test"] = [[OUTSIDE]]
    dns.answers["mirror.test"] = [[INSIDE]]
    inside.answer("/a.csv", CSV)
    url = source.redirect("/moved", f"http://mirror.test:{inside.port}/a.csv").replace(OUTSIDE, "files.test")
    assert refusal(url) == "source address is loopback"
    assert dns.lookups == ["files.test", "mirror.test"]
    assert inside.seen == []


def test_a_name_that_does_not_resolve_is_refused(rules):
    rules.ETL_URL_ALLOWED_HOSTS = ["no-such-host.invalid"]
    assert refusal("http://no-such-host.invalid/a.csv") == HOST_UNRESOLVED


def test_url_imports_are_off_while_no_host_is_allowed(rules, source):
    rules.ETL_URL_ALLOWED_HOSTS = []
    assert refusal(source.answer("/a.csv", CSV)) == URL_IMPORTS_OFF
    assert source.seen == []


def test_a_host_not_on_the_allow_list_is_refused_before_any_lookup(rules, dns, source):
    url = source.answer("/a.csv", CSV).replace(OUTSIDE, "127.0.0.3")
    assert refusal(url) == HOST_NOT_ALLOWED
    assert dns.lookups == []


def test_a_redirect_to_a_host_not_on_the_allow_list_is_refused(rules, source, inside):
    inside.answer("/a.csv", CSV)
    assert refusal(source.redirect("/moved", inside.url("/a.csv", host="127.0.0.3"))) == HOST_NOT_ALLOWED
    assert inside.seen == []


@pytest.mark.parametrize(
    "location", ["file:///etc/passwd", "ftp://127.0.0.2/a.csv", "gopher://127.0.0.2:70/"]
)
def test_a_redirect_to_another_scheme_is_refused(rules, source, location):
    assert refusal(source.redirect("/moved", location)) == SCHEME_NOT_ALLOWED


def test_the_allow_list_takes_names_domains_and_a_wildcard(settings):
    settings.ETL_URL_ALLOWED_HOSTS = ["data.example.org", ".files.example.net"]
    assert host_allowed("data.example.org")
    assert not host_allowed("evil-data.example.org")
    assert host_allowed("files.example.net") and host_allowed("eu.files.example.net")
    assert not host_allowed("evilfiles.example.net")
    settings.ETL_URL_ALLOWED_HOSTS = ["*"]
    assert host_allowed("anything.example")


def test_the_allowed_network_is_what_lets_the_tests_reach_their_source(rules, source):
    # Without the operator's exception the test source is what it is: a loopback address.
    url = source.answer("/a.csv", CSV)
    assert read(url) == CSV
    rules.ETL_URL_ALLOWED_NETWORKS = []
    assert refusal(url) == "source address is loopback"


@pytest.mark.parametrize(
    "url",
    ["http://[::1/x", "http://127.0.0.2:99999/a.csv", "http://127.0.0.2/a b.csv", "http:///a.csv",
     "http://127.0.0.2/a\x00.csv", "http://exa\u200bmple/a.csv"],
)  # fmt: skip
def test_a_url_that_is_not_valid_is_refused_with_the_rule(rules, url):
    assert refusal(url) == URL_INVALID


def test_redirects_are_followed_up_to_the_cap_and_no_further(rules, source):
    rules.ETL_MAX_REDIRECTS = 3
    source.answer("/a.csv", CSV)
    source.redirect("/1", "/2", status=301)
    source.redirect("/2", "/3", status=307)
    source.redirect("/3", source.url("/a.csv"), status=308)
    assert read(source.url("/1")) == CSV
    source.redirect("/0", "/1", status=303)
    assert refusal(source.url("/0")) == TOO_MANY_REDIRECTS


def test_a_redirect_loop_stops_at_the_cap(rules, source):
    assert refusal(source.redirect("/loop", "/loop")) == TOO_MANY_REDIRECTS
    assert len(source.seen) == rules.ETL_MAX_REDIRECTS + 1


def test_credentials_go_to_their_own_origin_only(rules, dns, source):
    dns.answers["mirror.test"] = [[OUTSIDE]]
    source.answer("/a.csv", CSV)
    source.redirect("/same", "/a.csv")
    assert read(source.url("/same").replace("://", "://reader:s%40cret@")) == CSV
    assert [seen.headers.get("Authorization") for seen in source.seen] == ["Basic cmVhZGVyOnNAY3JldA=="] * 2
    source.seen.clear()
    source.redirect("/elsewhere", source.url("/a.csv", host="mirror.test"))
    assert read(source.url("/elsewhere").replace("://", "://reader:s%40cret@")) == CSV
    assert [seen.headers.get("Authorization") for seen in source.seen] == ["Basic cmVhZGVyOnNAY3JldA==", None]


def test_https_sends_the_name_in_sni_and_checks_the_certificate_against_it(
    rules, dns, certificate, monkeypatch
):
    from tests.import_source import ImportSource

    monkeypatch.setenv("SSL_CERT_FILE", certificate[0])
    dns.answers["files.test"] = [[OUTSIDE]]
    dns.answers["mirror.test"] = [[OUTSIDE]]
    with ImportSource(OUTSIDE, tls=certificate) as server:
        server.answer("/a.csv", CSV)
        assert read(server.url("/a.csv", host="files.test")) == CSV
        assert (server.seen[0].server_name, server.seen[0].headers["Host"]) == (
            "files.test",
            f"files.test:{server.port}",
        )
        # The same server under a name its certificate does not carry: refused, nothing sent.
        assert refusal(server.url("/a.csv", host="mirror.test")) == UNREACHABLE
        assert len(server.seen) == 1
