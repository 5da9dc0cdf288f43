import pytest

from kinerja_shared.errors import AppError, Conflict

from kinerja_assessment.domain import assessment as rules
from kinerja_assessment.domain.predikat import MATRIX, Predikat, Rating, parse_rating, predikat_for

# PermenPANRB 6/2022: rows hasil kerja, columns perilaku kerja; SIASN predikat codes.
CELLS = [
    ("DI_ATAS", "DI_ATAS", "SANGAT_BAIK", 1, "Sangat Baik"),
    ("DI_ATAS", "SESUAI", "BAIK", 2, "Baik"),
    ("DI_ATAS", "DI_BAWAH", "KURANG", 4, "Kurang/Misconduct"),
    ("SESUAI", "DI_ATAS", "BAIK", 2, "Baik"),
    ("SESUAI", "SESUAI", "BAIK", 2, "Baik"),
    ("SESUAI", "DI_BAWAH", "KURANG", 4, "Kurang/Misconduct"),
    ("DI_BAWAH", "DI_ATAS", "BUTUH_PERBAIKAN", 3, "Butuh Perbaikan"),
    ("DI_BAWAH", "SESUAI", "BUTUH_PERBAIKAN", 3, "Butuh Perbaikan"),
    ("DI_BAWAH", "DI_BAWAH", "SANGAT_KURANG", 5, "Sangat Kurang"),
]


@pytest.mark.parametrize("hasil, perilaku, predikat, code, label", CELLS)
def test_matrix_cell(hasil, perilaku, predikat, code, label):
    result = predikat_for(Rating(hasil), Rating(perilaku))
    assert result is Predikat(predikat)
    assert result.siasn_code == code
    assert result.label == label


def test_matrix_has_exactly_nine_cells_and_every_predikat():
    assert len(MATRIX) == 9
    assert set(MATRIX.values()) == set(Predikat)


def test_rating_codes():
    assert [Rating(r).siasn_code for r in ("DI_ATAS", "SESUAI", "DI_BAWAH")] == [1, 2, 3]


@pytest.mark.parametrize("value", ["BAIK", "di_atas", "", None, 1, "SANGAT_BAIK"])
def test_a_rating_outside_the_three_values_is_refused(value):
    with pytest.raises(AppError) as exc:
        parse_rating(value, "rating_hasil_kerja")
    assert exc.value.code == "rating_tidak_valid" and exc.value.status_code == 422


def test_state_rules():
    rules.ensure_open(rules.OPEN)
    with pytest.raises(Conflict) as exc:
        rules.ensure_open(rules.FINAL)
    assert exc.value.code == "penilaian_sudah_final"
    with pytest.raises(Conflict) as exc:
        rules.ratings_to_finalize("SESUAI", None)
    assert exc.value.code == "rating_belum_lengkap"
    assert rules.ratings_to_finalize("DI_ATAS", "SESUAI").predikat is Predikat.BAIK
    assert rules.not_the_assessor().code == "bukan_penilai"
