"""A minimal HTTP/1.1 keep-alive client on asyncio streams: the fixed-rate arms and the rollback probes.

Small on purpose: a request costs the load generator a few tens of microseconds, and its timing is
ours to read. Servers close keep-alive connections left idle (uvicorn after 5 s), so a connection idle
for longer than ``MAX_IDLE_S`` is reopened before use, and a request on a reused connection that the
server closed before answering anything is sent once more on a fresh one (it was never processed).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

__all__ = ["MAX_IDLE_S", "Connection", "HttpResponse"]

MAX_IDLE_S = 2.0
_CLOSED_BEFORE_ANSWER = (ConnectionResetError, BrokenPipeError)


@dataclass(slots=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used_at = 0.0

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> HttpResponse:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        for name, value in (headers or {}).items():
            head += f"{name}: {value}\r\n"
        payload = head.encode() + b"\r\n" + body
        if self._writer is not None and time.monotonic() - self._used_at > MAX_IDLE_S:
            self.close()  # the server may be closing it right now
        reused = self._writer is not None and not self._writer.is_closing()
        try:
            response = await self._exchange(payload)
        except asyncio.IncompleteReadError as exc:
            if not (reused and not exc.partial):
                raise
            response = await self._exchange(payload)  # closed by the server before it read the request
        except _CLOSED_BEFORE_ANSWER:
            if not reused:
                raise
            response = await self._exchange(payload)
        if response.headers.get("connection", "").lower() == "close":
            self.close()
        return response

    async def _exchange(self, payload: bytes) -> HttpResponse:
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        try:
            self._writer.write(payload)
            response = await self._read(self._reader)
        except BaseException:
            self.close()
            raise
        self._used_at = time.monotonic()
        return response

    async def _read(self, reader: asyncio.StreamReader) -> HttpResponse:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            body = b"".join(parts)
        else:
            body = b""
        return HttpResponse(status, headers, body)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
