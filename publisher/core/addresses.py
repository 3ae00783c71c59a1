"""Which network destinations publisher may call: credentials' ``base_url`` and the
notification URL (``PUBLISHER_NOTIFY_URL``).

A URL is judged twice: on its text when it is stored (scheme, host name, literal address;
``url_problem``) and, at call time, on the address its host resolves to then
(``address_problem``, used by ``engine.deadline``), so a name that later resolves
elsewhere (DNS rebinding) is caught too. Link-local and cloud-metadata addresses are never
called; loopback and private ranges only when ``PUBLISHER_ALLOW_PRIVATE_URLS`` is true (the
embedded mode's default, where the demo's sandbox runs on 127.0.0.1).
"""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from urllib.parse import urlsplit

# Never called: link-local (where clouds serve instance credentials) and metadata hosts.
ALWAYS_FORBIDDEN = tuple(
    ip_network(net) for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
# Called only when private destinations are allowed: this host, the LAN, carrier NAT.
PRIVATE = tuple(
    ip_network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "::/128",
        "::1/128",
        "fc00::/7",
    )
)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def _address(host: str) -> IPv4Address | IPv6Address | None:
    """``host`` as an address if it is one, in any form a resolver accepts (``127.1``,
    ``2130706433``, ``0x7f.0.0.1``, ``::ffff:10.0.0.1``); None for a name."""
    try:
        found: IPv4Address | IPv6Address = ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        try:
            found = IPv4Address(socket.inet_aton(host))
        except (OSError, ValueError):
            return None
    if isinstance(found, IPv6Address) and found.ipv4_mapped is not None:
        return found.ipv4_mapped
    return found


def address_problem(address: str, allow_private: bool) -> str | None:
    """Why publisher must not connect to ``address`` (an IP), or None when it may."""
    found = _address(address)
    if found is None:
        return None
    if any(found in net for net in ALWAYS_FORBIDDEN if net.version == found.version):
        return "is a link-local or cloud-metadata address"
    if not allow_private and (
        any(found in net for net in PRIVATE if net.version == found.version)
        or found.is_loopback
        or found.is_unspecified
    ):
        return "is a loopback or private address (set PUBLISHER_ALLOW_PRIVATE_URLS to allow)"
    return None


def url_problem(url: str, allow_private: bool) -> str | None:
    """Why ``url`` may not be stored as a destination, judged on its text, or None."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        return "must be an absolute http(s) URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute http(s) URL"
    if host in METADATA_HOSTS:
        return "is a cloud-metadata host"
    if _address(host) is None:
        local = host in LOOPBACK_NAMES or host.endswith(".localhost")
        if local and not allow_private:
            return "is a loopback host (set PUBLISHER_ALLOW_PRIVATE_URLS to allow)"
        return None
    return address_problem(host, allow_private)
