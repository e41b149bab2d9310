"""Reading import files: gzip or not, one JSON document or JSON Lines (or CSV for formats that
come as CSV), each record with where it was found (`line 12`, `record 5`, `line 3, record 2`).

JSON Lines are read a line at a time, so a large file is never held whole; a single JSON
document (a CloudTrail `{"Records": [...]}` file, a JSON array) is parsed whole. A line that
is not JSON is reported and the others are read; a whole document that is not JSON is
reported with the line and column where it breaks, and nothing of it is read.
"""
from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Iterator

GZIP_MAGIC = b"\x1f\x8b"


class FileUnreadable(Exception):
    """The whole file cannot be read: `where` (`line 3`) and why."""

    def __init__(self, where: str, reason: str):
        super().__init__(f"{where}: {reason}" if where else reason)
        self.where = where
        self.reason = reason


@dataclass
class Located:
    """A parsed JSON document (a line, or the whole file) and where it starts."""

    where: str          # "line 12", or "" for a whole-file document
    document: object


class _Prefixed(io.RawIOBase):
    """A stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream) -> None:
        self.head, self.stream = head, stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.head:
            size = min(len(buffer), len(self.head))
            buffer[:size], self.head = self.head[:size], self.head[size:]
            return size
        data = self.stream.read(len(buffer))
        buffer[:len(data)] = data
        return len(data)


def open_binary(stream: BinaryIO) -> io.BufferedReader:
    """`stream` as buffered bytes, decompressed when it is gzip (told by its first bytes, not its name)."""
    head = stream.read(2)
    buffered = io.BufferedReader(_Prefixed(head, stream), 1 << 16)
    if head == GZIP_MAGIC:
        return io.BufferedReader(gzip.GzipFile(fileobj=buffered), 1 << 16)
    return buffered


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")


def _loads(text: str):
    return json.loads(text, parse_constant=_reject_constant)


def _decode(raw: bytes, where: str) -> str:
    if b"\x00" in raw:
        raise FileUnreadable(where, "holds NUL bytes: a binary file, not JSON text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise FileUnreadable(where, f"is not UTF-8 text (byte {error.start + 1}): a binary file?") from None


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):g} MiB" if count >= 1024 * 1024 else f"{count / 1024:g} KiB"


def _lines(reader, max_bytes: int | None = None) -> Iterator[tuple[int, bytes]]:
    """The file's lines, numbered; past `max_bytes` (counted after decompression) the file is
    refused, so a small gzip bomb cannot fill memory (a line is never read whole beyond it)."""
    left = max_bytes
    number = 0
    try:
        while True:
            raw = reader.readline() if left is None else reader.readline(left + 1)
            if not raw:
                return
            if left is not None:
                left -= len(raw)
                if left < 0:
                    raise FileUnreadable(f"line {number + 1}", f"the file is larger than {_size(max_bytes)} once "
                                                               "decompressed; import it with manage.py import_events")
            number += 1
            yield number, raw
    except (OSError, EOFError, zlib.error) as error:
        # A truncated or corrupt gzip stream.
        raise FileUnreadable("", f"the gzip data is damaged or cut short ({error})") from None


def documents(stream: BinaryIO, *, csv_ok: bool = False, max_bytes: int | None = None) -> Iterator[Located]:
    """The JSON documents of a file; CSV text yields one Located per row when csv_ok.
    `max_bytes` bounds the file's size once decompressed (None: no bound, the command line).

    Raises FileUnreadable for a file that cannot be read at all; a bad line of a JSON Lines
    file is yielded as Located(where, ValueError(...)) for the caller to report.
    """
    lines = _lines(open_binary(stream), max_bytes)
    first_number, first = 0, b""
    for first_number, first in lines:
        if first.strip():
            break
    else:
        return  # an empty file holds no records
    text = _decode(first, f"line {first_number}").strip()
    if text[:1] in ("{", "["):
        try:
            document = _loads(text)
        except RecursionError:
            raise FileUnreadable(f"line {first_number}", "the JSON is nested too deeply") from None
        except ValueError:
            yield Located("", _whole(first_number, first, lines))
            return
        yield Located(f"line {first_number}", document)
        yield from _json_lines(lines)
        return
    if csv_ok:
        yield from _csv_rows(first_number, text, lines)
        return
    raise FileUnreadable(f"line {first_number}", f"is not JSON (it starts with {text[:20]!r})")


def _whole(first_number: int, first: bytes, lines) -> object:
    """The rest of the file parsed as one JSON document (a pretty-printed file)."""
    parts = [first]
    for _, raw in lines:
        parts.append(raw)
    text = _decode(b"".join(parts), f"line {first_number}")
    try:
        return _loads(text)
    except RecursionError:
        raise FileUnreadable("", "the JSON is nested too deeply") from None
    except json.JSONDecodeError as error:
        line = first_number + error.lineno - 1
        reason = "the JSON ends too early (a truncated file?)" if _cut_short(error, text) else f"malformed JSON: {error.msg}"
        raise FileUnreadable(f"line {line}, column {error.colno}", reason) from None
    except ValueError as error:
        raise FileUnreadable("", f"malformed JSON: {error}") from None


def _cut_short(error: json.JSONDecodeError, text: str) -> bool:
    """Whether the JSON breaks because the text ends (a truncated file), not because of a wrong character."""
    return error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string")


def _json_lines(lines) -> Iterator[Located]:
    for number, raw in lines:
        if not raw.strip():
            continue
        where = f"line {number}"
        try:
            text = _decode(raw, where)
            yield Located(where, _loads(text))
        except FileUnreadable as error:
            yield Located(where, ValueError(error.reason))
        except RecursionError:
            yield Located(where, ValueError("the JSON is nested too deeply"))
        except json.JSONDecodeError as error:
            cut = _cut_short(error, text)
            yield Located(where, ValueError("the JSON ends too early (a truncated line?)" if cut else f"malformed JSON: {error.msg} (column {error.colno})"))
        except ValueError as error:
            yield Located(where, ValueError(f"malformed JSON: {error}"))


def _csv_rows(first_number: int, header: str, lines) -> Iterator[Located]:
    def text_lines():
        yield header + "\n"
        for number, raw in lines:
            yield _decode(raw, f"line {number}")

    reader = csv.DictReader(text_lines())
    for row in reader:
        yield Located(f"line {first_number + reader.line_num - 1}", {"__csv__": row})
