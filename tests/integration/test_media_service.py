"""The media Python API on SQLite and PostgreSQL: uploads and URLs recorded, and
``check_for_post``'s every refusal, each naming the item and the limit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.core import service
from publisher.core.blobs import DirectoryStore
from publisher.core.models import Media
from publisher.errors import InvalidInput
from tests.support.media_files import GIF, MP4, PNG, sized

MB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> DirectoryStore:
    return DirectoryStore(tmp_path / "blobs")


@pytest.fixture
def ids(sessions: sessionmaker[Session], store: DirectoryStore) -> dict[str, int]:
    """Two accounts and media of each kind, some of one account, one of the other."""
    with sessions.begin() as session:
        mine = service.create_account(session, "mine").id
        theirs = service.create_account(session, "theirs").id

        def upload(content: bytes, account: int | None = mine, alt: str = "") -> int:
            return service.create_from_upload(session, store, content, "f", alt, account).id

        found = {
            "mine": mine,
            "png": upload(PNG, alt="stored alt"),
            "png2": upload(PNG),
            "png3": upload(PNG),
            "png4": upload(PNG),
            "png5": upload(PNG),
            "gif": upload(GIF),
            "video": upload(MP4),
            "big_png": upload(sized(PNG, 6 * MB)),
            "shared": upload(PNG, account=None),
            "theirs": upload(PNG, account=theirs),
            "url": service.create_from_url(session, "https://cdn.example/a.jpg", "", mine).id,
        }
    return found


def _check(
    sessions: sessionmaker[Session], ids: dict[str, int], provider: str, items: list[Any]
) -> list[dict[str, Any]]:
    with sessions.begin() as session:
        return service.check_for_post(session, ids["mine"], provider, items)


def test_items_are_normalised(sessions: sessionmaker[Session], ids: dict[str, int]) -> None:
    items = [{"id": ids["png"]}, {"id": ids["shared"], "alt": "a shared cat"}, {"id": ids["url"]}]
    assert _check(sessions, ids, "x", items) == [
        {"id": ids["png"], "type": "image", "alt": "stored alt"},
        {"id": ids["shared"], "type": "image", "alt": "a shared cat"},
        {"id": ids["url"], "type": None, "alt": "", "url": "https://cdn.example/a.jpg"},
    ]


@pytest.mark.parametrize(
    ("provider", "items", "field", "message"),
    [
        ("x", [{"id": "png"}, {"id": 0}], "media[1].id", "must be a media id"),
        ("x", [{"id": True}], "media[0].id", "must be a media id"),
        ("x", ["png"], "media[0].id", "must be a media id"),
        ("x", [{"id": 999_999}], "media[0].id", "media 999999 not found"),
        ("x", [{"id": "theirs"}], "media[0].id", "belongs to another account"),
        ("x", [{"id": "png", "alt": 5}], "media[0].alt", "must be a string"),
        ("x", [{"id": "png", "alt": "a\x00"}], "media[0].alt", "NUL"),
        (
            "x",
            [{"id": "png"}, {"id": "png2", "alt": "a" * 1_203}],
            "media[1].alt",
            "is 1,203 characters; x allows 1,000",
        ),
        (
            "mastodon",
            [{"id": "png", "alt": "é" * 1_501}],
            "media[0].alt",
            "is 1,501 characters; mastodon allows 1,500",
        ),
        (
            "x",
            [{"id": "big_png"}],
            "media[0].size",
            "is 6,291,456 bytes; x allows 5,242,880 for image media",
        ),
        (
            "x",
            [{"id": k} for k in ("png", "png2", "png3", "png4", "png5")],
            "media",
            "has 5 items; at most 4 allowed on x",
        ),
        (
            "x",
            [{"id": "gif"}, {"id": "png"}],
            "media",
            "a gif must be the only attachment of its post; got 2 on x",
        ),
        (
            "mastodon",
            [{"id": "png"}, {"id": "video"}],
            "media",
            "a video must be the only attachment of its post; got 2 on mastodon",
        ),
    ],
)
def test_every_refusal_names_the_item_and_the_limit(
    sessions: sessionmaker[Session],
    ids: dict[str, int],
    provider: str,
    items: list[Any],
    field: str,
    message: str,
) -> None:
    resolved = [
        {**item, "id": ids[item["id"]]}
        if isinstance(item, dict) and isinstance(item.get("id"), str)
        else item
        for item in items
    ]
    with pytest.raises(InvalidInput) as refused:
        _check(sessions, ids, provider, resolved)
    assert refused.value.field == field
    assert message in refused.value.message


def test_a_kind_the_provider_does_not_take_is_refused(
    sessions: sessionmaker[Session], ids: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from publisher.providers import PROVIDERS
    from publisher.providers.media_rule import Kind

    webhook = PROVIDERS["webhook"]
    images_only = replace(webhook.media_rule, max_bytes={Kind.IMAGE: MB})
    monkeypatch.setattr(type(webhook), "media_rule", images_only)
    with pytest.raises(InvalidInput) as refused:
        _check(sessions, ids, "webhook", [{"id": ids["video"]}])
    assert refused.value.field == "media[0].type"
    assert refused.value.message == "webhook does not take video media; it takes image"


def test_uploads_are_stored_and_refusals_store_nothing(
    sessions: sessionmaker[Session], store: DirectoryStore
) -> None:
    with sessions.begin() as session:
        media = service.create_from_upload(session, store, sized(PNG, 500), "cat.png", "", None)
        assert (media.kind, media.content_type, media.size) == ("image", "image/png", 500)
        assert media.blob_key is not None
        assert store.get(media.blob_key) == sized(PNG, 500)
    for content, max_bytes, message in [
        (b"text", None, "accepted: PNG, JPEG"),
        (b"", None, "empty"),
        (sized(PNG, 2000), 1024, "is 2,000 bytes; at most 1,024 allowed"),
    ]:
        with sessions.begin() as session, pytest.raises(InvalidInput, match=message):
            service.create_from_upload(session, store, content, "a", "", max_bytes=max_bytes)
    with sessions() as session:
        assert session.query(Media).count() == 1
    assert len([p for p in store.root.rglob("*") if p.is_file()]) == 1
