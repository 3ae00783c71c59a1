"""The main app's Python API: accounts, credentials, posts and post groups.

Plain functions that take the SQLAlchemy session (and the clock) explicitly; the HTTP API
is a thin layer over them, so there is one implementation. Each function validates its
input (``InvalidInput`` naming the field) before it writes anything; the caller owns the
transaction, so a failure never leaves a partial write. One module per concept; this
package re-exports them, so callers write ``service.create_post``.
"""

from publisher.core.service.accounts import create_account, get_account, update_account
from publisher.core.service.audit import list_actions, record_action
from publisher.core.service.checks import MAX_IN_FLIGHT, MAX_TEXT_LIMIT
from publisher.core.service.credentials import (
    add_credential,
    get_credential,
    replace_token,
    rotate_tokens,
    update_credential,
)
from publisher.core.service.group_members import MAX_MEMBERS
from publisher.core.service.groups import (
    GroupView,
    approve_group,
    cancel_group,
    create_group,
    get_group,
    group_by_key,
    unapprove_group,
)
from publisher.core.service.health import Switch, switches_on, unfinished_counts
from publisher.core.service.media import (
    check_for_post,
    create_from_upload,
    create_from_url,
    get_media,
)
from publisher.core.service.notifications import list_notifications
from publisher.core.service.oauth import OAuthFields
from publisher.core.service.posts import (
    approve,
    cancel,
    count_reapprovable,
    create_post,
    edit_post,
    get_post,
    history,
    list_calls,
    list_posts,
    post_by_key,
    reapprove_unauthorized,
    reopen,
    retry_now,
    steps,
    unapprove,
)

__all__ = [
    "MAX_IN_FLIGHT",
    "MAX_MEMBERS",
    "MAX_TEXT_LIMIT",
    "GroupView",
    "OAuthFields",
    "Switch",
    "add_credential",
    "approve",
    "approve_group",
    "cancel",
    "cancel_group",
    "check_for_post",
    "count_reapprovable",
    "create_account",
    "create_from_upload",
    "create_from_url",
    "create_group",
    "create_post",
    "edit_post",
    "get_account",
    "get_credential",
    "get_group",
    "get_media",
    "get_post",
    "group_by_key",
    "history",
    "list_actions",
    "list_calls",
    "list_notifications",
    "list_posts",
    "post_by_key",
    "reapprove_unauthorized",
    "record_action",
    "reopen",
    "replace_token",
    "retry_now",
    "rotate_tokens",
    "steps",
    "switches_on",
    "unapprove",
    "unapprove_group",
    "unfinished_counts",
    "update_account",
    "update_credential",
]
