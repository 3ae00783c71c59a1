"""What every LinkedIn call shares: the version headers and the account's author.

Every versioned call (``/rest/...``) names the API version in ``LinkedIn-Version``
(YYYYMM) and the Rest.li protocol in ``X-Restli-Protocol-Version``. Source:
https://learn.microsoft.com/en-us/linkedin/marketing/versioning.
"""

from __future__ import annotations

from urllib.parse import urldefrag, urlsplit

from publisher.providers import rest

# The Marketing API version every call names; LinkedIn supports a version for about a
# year, then answers 426 (the provider's error table): move it on with the release notes.
API_VERSION = "202610"
RESTLI_PROTOCOL = "2.0.0"  # the Rest.li protocol the versioned APIs require
# Hosts an upload URL may name and still get the token: LinkedIn's own.
LINKEDIN_DOMAIN = "linkedin.com"


def headers(token: str) -> dict[str, str]:
    """Bearer auth and the version headers every versioned LinkedIn call needs."""
    return {
        **rest.bearer(token),
        "LinkedIn-Version": API_VERSION,
        "X-Restli-Protocol-Version": RESTLI_PROTOCOL,
    }


def split_base(base_url: str) -> tuple[str, str]:
    """The API root and the author URN the account's ``base_url`` names in its fragment
    (``https://api.linkedin.com#urn:li:person:abc``; empty when it names none: LinkedIn
    then refuses the post, 422)."""
    url, fragment = urldefrag(base_url)
    return rest.root(url), fragment


def trusted_host(url: str, base_url: str) -> bool:
    """Whether ``url`` (an upload URL LinkedIn answered) is on the API's own host or on
    LinkedIn's domain: only then does the token go with the bytes."""
    host = (urlsplit(url).hostname or "").lower()
    api_host = (urlsplit(split_base(base_url)[0]).hostname or "").lower()
    return host in (api_host, LINKEDIN_DOMAIN) or host.endswith("." + LINKEDIN_DOMAIN)
