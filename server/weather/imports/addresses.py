"""Which hosts and addresses a URL source may reach.

A host must be on ETL_URL_ALLOWED_HOSTS by name, and every address its name resolves to must be
public: loopback, private, link-local, multicast, unspecified and reserved addresses are refused
however the URL spells them. The resolver does the parsing (`2130706433`, `0x7f.1` and `127.1`
all come back as 127.0.0.1), IPv6 forms that embed an IPv4 address (mapped, 6to4, Teredo, NAT64)
are judged by that address, and the caller connects to the very addresses checked here, so a
name cannot be re-resolved to somewhere else between the check and the connection.
"""

import ipaddress
import socket
from dataclasses import dataclass

from django.conf import settings

from weather.imports.refusals import ADDRESS_NOT_PUBLIC, HOST_NOT_ALLOWED, HOST_UNRESOLVED, ImportRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


@dataclass(frozen=True)
class CheckedAddress:
    family: int
    sockaddr: tuple
    ip: IPAddress


def host_allowed(host: str) -> bool:
    """On ETL_URL_ALLOWED_HOSTS: an exact name, `.example.org` for it and its subdomains, or `*`."""
    for pattern in settings.ETL_URL_ALLOWED_HOSTS:
        pattern = pattern.lower().rstrip(".")
        if pattern == "*" or host == pattern:
            return True
        if pattern.startswith(".") and (host == pattern[1:] or host.endswith(pattern)):
            return True
    return False


def host_check(host: str) -> None:
    if not host_allowed(host):
        raise ImportRefused(HOST_NOT_ALLOWED, f"host {host!r}")


def host_addresses(host: str, port: int) -> list[tuple[int, tuple]]:
    """The (family, socket address) pairs the system resolver gives for a host. Tests replace this
    function to play DNS for names of their own."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    return [(family, sockaddr) for family, _, _, _, sockaddr in infos]


def addresses_check(host: str, port: int) -> list[CheckedAddress]:
    """Resolve once and judge every address; one address that is not public refuses the host."""
    try:
        resolved = host_addresses(host, port)
    except (OSError, UnicodeError) as exc:
        raise ImportRefused(HOST_UNRESOLVED, f"host {host!r}: {exc}") from exc
    if not resolved:
        raise ImportRefused(HOST_UNRESOLVED, f"host {host!r}: no addresses")
    checked = []
    for family, sockaddr in resolved:
        ip = ipaddress.ip_address(sockaddr[0].split("%", 1)[0])
        kind = address_kind(ip)
        if kind and not _network_allowed(ip):
            raise ImportRefused(ADDRESS_NOT_PUBLIC.format(kind=kind), f"host {host!r} resolves to {ip}")
        checked.append(CheckedAddress(family, sockaddr, ip))
    return checked


def address_kind(ip: IPAddress) -> str | None:
    """Why an address is not public ("loopback", "private", ...), or None for a public one."""
    embedded = _embedded_ipv4(ip)
    if embedded:
        # An IPv6 form that carries an IPv4 address reaches that address: judge it alone.
        return next(filter(None, map(address_kind, embedded)), None)
    if ip.is_loopback:
        return "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_reserved:  # before private: 240.0.0.0/4 is in both lists
        return "reserved"
    if ip.is_private:
        return "private"
    # Shared address space (100.64.0.0/10) and the like: neither private nor on the internet.
    if not ip.is_global:
        return "not public"
    return None


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    if ip.version == 4:
        return []
    found = [ip.ipv4_mapped, ip.sixtofour, *(ip.teredo or ())]
    if any(ip in network for network in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return [inner for inner in found if inner is not None]


def _network_allowed(ip: IPAddress) -> bool:
    """ETL_URL_ALLOWED_NETWORKS: the operator's exception for a known internal source (and tests)."""
    candidates = [ip, *_embedded_ipv4(ip)]
    return any(
        candidate in network
        for network in settings.ETL_URL_ALLOWED_NETWORKS
        for candidate in candidates
        if candidate.version == network.version
    )
