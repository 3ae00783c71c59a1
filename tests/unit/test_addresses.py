"""Which destinations publisher may call, judged on a URL's text (table-driven)."""

from __future__ import annotations

import pytest

from publisher.core.addresses import address_problem, url_problem

NEVER = "link-local or cloud-metadata"
PRIVATE = "loopback"
BAD = "absolute http(s) URL"

# (url, problem when private addresses are refused, problem when they are allowed)
URLS = [
    ("https://mastodon.social", None, None),
    ("http://8.8.8.8:8080/hook", None, None),
    ("https://[2001:4860::8888]/", None, None),
    ("http://169.254.169.254/latest/meta-data/", NEVER, NEVER),
    ("http://169.254.1.1/", NEVER, NEVER),
    ("http://2852039166/", NEVER, NEVER),  # 169.254.169.254 as one number
    ("http://0xa9.0xfe.0xa9.0xfe/", NEVER, NEVER),
    ("http://[::ffff:169.254.169.254]/", NEVER, NEVER),
    ("http://[fd00:ec2::254]/", NEVER, NEVER),
    ("http://[fe80::1]/", NEVER, NEVER),
    ("http://[fe80::1%25eth0]/", NEVER, NEVER),
    ("http://metadata.google.internal/computeMetadata/v1/", "metadata", "metadata"),
    ("http://METADATA.google.internal./", "metadata", "metadata"),
    ("http://127.0.0.1:8000/", PRIVATE, None),
    ("http://127.1/", PRIVATE, None),
    ("http://2130706433/", PRIVATE, None),
    ("http://[::1]:8000/", PRIVATE, None),
    ("http://[::ffff:127.0.0.1]/", PRIVATE, None),
    ("http://localhost:8000/", PRIVATE, None),
    ("http://api.localhost/", PRIVATE, None),
    ("http://0.0.0.0/", PRIVATE, None),
    ("http://10.1.2.3/", PRIVATE, None),
    ("http://172.16.0.1/", PRIVATE, None),
    ("http://192.168.1.1/", PRIVATE, None),
    ("http://100.64.0.1/", PRIVATE, None),
    ("http://[fc00::1]/", PRIVATE, None),
    ("http://[fd12:3456::1]/", PRIVATE, None),
    ("ftp://files.example/", BAD, BAD),
    ("file:///etc/passwd", BAD, BAD),
    ("gopher://127.0.0.1:6379/_INFO", BAD, BAD),
    ("http://host:99999/", BAD, BAD),
    ("http:///nohost", BAD, BAD),
    ("javascript:alert(1)", BAD, BAD),
]


@pytest.mark.parametrize(("url", "refused", "allowed"), URLS)
def test_url_problem(url: str, refused: str | None, allowed: str | None) -> None:
    for allow_private, expected in ((False, refused), (True, allowed)):
        problem = url_problem(url, allow_private)
        if expected is None:
            assert problem is None, (url, allow_private, problem)
        else:
            assert problem is not None and expected in problem, (url, allow_private, problem)


@pytest.mark.parametrize(
    ("address", "refused", "allowed"),
    [
        ("93.184.216.34", False, False),
        ("169.254.169.254", True, True),
        ("fd00:ec2::254", True, True),
        ("127.0.0.1", True, False),
        ("::1", True, False),
        ("10.0.0.1", True, False),
    ],
)
def test_address_problem(address: str, refused: bool, allowed: bool) -> None:
    assert (address_problem(address, False) is not None) is refused
    assert (address_problem(address, True) is not None) is allowed
