"""CSV exports neutralise spreadsheet formulas (OWASP CSV Injection): a cell starting with
=, +, -, @, tab or carriage return gets a leading quote; every cell is quoted."""

import csv
import io

from kinerja_shared.csv_export import neutralise, write_csv


def test_formula_cells_get_a_leading_quote_and_others_stay():
    for value in ("=1+2", "+62812", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x")'):
        assert neutralise(value) == "'" + value
    for value in ("Dewi Lestari, S.Pd.", "198503122010012001", "", "a=b", " =1", "'quoted"):
        assert neutralise(value) == value
    assert neutralise(None) == "" and neutralise(42) == "42" and neutralise(-1) == "'-1"


def test_write_csv_quotes_every_cell_and_reads_back():
    text = write_csv(("name", "note"), [("=cmd|' /C calc'!A0", 'say "hi", twice'), ("Budi", "")])
    assert text.splitlines()[0] == '"name","note"'
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "note"], ["'=cmd|' /C calc'!A0", 'say "hi", twice'], ["Budi", ""]]
