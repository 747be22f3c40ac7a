"""CSV for spreadsheets: one writer for every download, and every cell made safe to open.

A cell that starts like a formula (``=``, ``+``, ``@``, ``-``, a tab or a carriage return) would be
run by Excel or LibreOffice when the file is opened (OWASP "CSV injection"): such text is prefixed
with a quote. Negative numbers stay numbers.

Masked codes are written with plain asterisks (GC-****-****-****-7F3K): the bullets pages show are
three bytes each in UTF-8 (a masked export came out larger than the full one) and some spreadsheet
imports misread them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

_FORMULA_STARTS = ("=", "+", "@", "-", "\t", "\r")
_MASK_DOT, _PLAIN_MASK_DOT = "•", "*"


def safe_cell(value: object) -> str:
    """The value as text a spreadsheet shows rather than runs, masks in plain characters."""
    text = str(value).replace(_MASK_DOT, _PLAIN_MASK_DOT)
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_text(header: list[str], rows: Iterable[Iterable[object]]) -> str:
    """A whole CSV file as text."""
    return "".join(csv_chunks([header, *rows]))


def csv_chunks(rows: Iterable[Iterable[object]], *, lines: int = 500) -> Iterator[str]:
    """CSV text in chunks of ``lines`` rows (the first row is the header), for a streamed response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for count, row in enumerate(rows, 1):
        writer.writerow([safe_cell(value) for value in row])
        if count % lines == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue()
