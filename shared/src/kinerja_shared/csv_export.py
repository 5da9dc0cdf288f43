"""CSV for people to open in a spreadsheet, with formulas neutralised (OWASP, CSV Injection).

Text fields (a roster name, a jabatan) are stored and forwarded as they were given: a value
starting with ``=`` is data to us, and JSON consumers see it unchanged. A spreadsheet opening
a CSV file, though, runs a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage
return before one) as a formula. So every CSV we write goes through :func:`write_csv`, which
prefixes such a cell with a single quote (``'=1+2`` shows as text ``=1+2``) and quotes every
cell, as OWASP recommends. The quote is part of the exported value: remove it before
importing an exported file again.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> str:
    """The cell's text, with a leading quote when a spreadsheet would read it as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    for row in rows:
        writer.writerow([neutralise(cell) for cell in row])
    return out.getvalue()
