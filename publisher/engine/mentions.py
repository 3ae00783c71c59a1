"""Mentions resolved just before a create, for a provider whose mentions name an account
id the text does not hold (``providers.base.ResolvesMentions``: Bluesky's DIDs).

Each handle is one GET through the attempt's ``get_json`` (lease renewed first, time
and size bounded, the resolved address checked). A handle that cannot be resolved
(unknown, the call failed) stays plain text: a mention is a link to a profile, never
worth failing a post for. Resolving again on a retry is harmless: the post's identity at
the provider is its key, not its content.
"""

from __future__ import annotations

from collections.abc import Mapping

from publisher.errors import LookupFailed
from publisher.providers.base import GetJson, PublishRequest, ResolvesMentions


def resolve(
    get_json: GetJson, provider: ResolvesMentions, request: PublishRequest
) -> Mapping[str, str]:
    """The handles ``request``'s text mentions that the network knows: handle -> id."""
    found: dict[str, str] = {}
    for handle in provider.mentioned(request.text):
        try:
            body = get_json(provider.resolve_url(request.base_url, handle), {})
        except LookupFailed:
            continue
        account = provider.parse_resolved(body)
        if account is not None:
            found[handle] = account
    return found
