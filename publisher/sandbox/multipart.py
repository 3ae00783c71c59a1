"""Reading ``multipart/form-data`` bodies (media uploads), with the standard library's
MIME parser, as the networks' servers read them."""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.parser import BytesParser

from publisher.sandbox.wire import BadRequest, Request


@dataclass(frozen=True)
class Part:
    name: str
    content: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


def parse(content_type: str, body: bytes) -> dict[str, Part]:
    """The parts of a multipart body by field name (the last of a repeated name wins);
    raises ``BadRequest`` when the body is not multipart/form-data."""
    if not content_type.lower().startswith("multipart/form-data"):
        raise BadRequest("expected a multipart/form-data body")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BadRequest("the multipart body has no parts")
    parts: dict[str, Part] = {}
    for item in message.iter_parts():
        name = item.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise BadRequest("a multipart part has no name")
        payload = item.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        declared = item.get("Content-Type")
        parts[name] = Part(name, content, item.get_filename(), str(declared) if declared else None)
    return parts


def form(request: Request) -> dict[str, Part]:
    """The parts of ``request``'s multipart body."""
    return parse(request.header("Content-Type") or "", request.body)
