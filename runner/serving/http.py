"""HTTP/1.1 on the wire: a request head parsed within bounds, a response encoded.

Only what MLflow's scoring clients send: a request line, headers and a Content-Length body
(keep-alive by default). Chunked bodies, oversize heads and bodies are refused with an
``HttpError``; ``connections`` answers it and closes the connection.
"""

from __future__ import annotations

from dataclasses import dataclass

from runner.serving.responses import Response

MAX_HEAD_BYTES = 16_384
MAX_HEADERS = 100
REASONS = {200: "OK", 100: "Continue", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
           413: "Payload Too Large", 415: "Unsupported Media Type",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           503: "Service Unavailable"}


class HttpError(Exception):
    """A framing problem: answered, then the connection is closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Request:
    method: str
    path: str
    query: str
    content_type: str | None
    body: bytes
    keep_alive: bool
    started: float = 0.0  # perf_counter when complete, for the access log


def encode(response: Response, keep_alive: bool, head_only: bool = False,
           extra: bytes = b"") -> bytes:
    """The response on the wire; ``extra``: more header lines, each ending in CRLF."""
    reason = REASONS.get(response.status, "")
    connection = "keep-alive" if keep_alive else "close"
    head = (f"HTTP/1.1 {response.status} {reason}\r\nContent-Type: {response.content_type}\r\n"
            f"Content-Length: {len(response.body)}\r\nConnection: {connection}\r\n"
            "Server: runner\r\n")
    return head.encode("latin-1") + extra + b"\r\n" + (b"" if head_only else response.body)


def parse_head(buf: bytearray, end: int, max_body: int) -> tuple[Request, int]:
    """The request line and headers in ``buf[:end]``; returns the request (body empty) and the
    body's length. Raises HttpError for anything malformed, chunked or oversize."""
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    if len(lines) > MAX_HEADERS + 1:
        raise HttpError(431, f"over {MAX_HEADERS} header lines")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed HTTP request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(400, f"malformed HTTP header line {line[:80]!r}")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        raise HttpError(411, "chunked bodies are not supported: send a Content-Length")
    try:
        length = int(headers.get("content-length", "0"))
    except ValueError:
        raise HttpError(400, "Content-Length is not a number") from None
    if length < 0 or length > max_body:
        raise HttpError(413, f"body of {length} bytes; the limit is {max_body} "
                             "(serving.max_body_bytes)")
    connection = headers.get("connection", "").lower()
    keep = connection != "close" if parts[2] == "HTTP/1.1" else connection == "keep-alive"
    path, _, query = parts[1].partition("?")
    request = Request(parts[0], path, query, headers.get("content-type"), b"", keep)
    return request, length
