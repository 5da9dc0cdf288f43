"""Kurva distribusi (PermenPANRB 6/2022): an organisation's share of each predikat against the
rule for the organisation's own predikat. Reported to the PPK before finalising as a warning
with the numbers, never a block. The limits are data (policies/distribusi.json), each marked
with its source."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from kinerja_assessment.domain.policy import distribution_rules
from kinerja_assessment.domain.predikat import PREDIKAT_LABELS, Predikat

ORGANISATION_PREDIKAT = ("ISTIMEWA", "BAIK", "BUTUH_PERBAIKAN", "KURANG", "SANGAT_KURANG")
ORGANISATION_LABELS = {"ISTIMEWA": "Istimewa", "BAIK": "Baik", "BUTUH_PERBAIKAN": "Butuh Perbaikan",
                       "KURANG": "Kurang", "SANGAT_KURANG": "Sangat Kurang"}


def _pct(part: int, total: int) -> Decimal:
    return (Decimal(part) * 100 / Decimal(total)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP) if total else Decimal(0)


def check(counts: dict[str, int], organisation_predikat: str) -> dict:
    total = sum(counts.values())
    warnings = []
    for rule in distribution_rules()["rules"][organisation_predikat]:
        group = rule["predikat"]
        n = sum(counts.get(p, 0) for p in group)
        share = _pct(n, total)
        names = " / ".join(PREDIKAT_LABELS[Predikat(p)] for p in group)
        if "max_percent" in rule and share > rule["max_percent"]:
            warnings.append({
                "predikat": group, "count": n, "percent": str(share), "limit": f"maks {rule['max_percent']}%",
                "source": rule["source"],
                "message": f"{names}: {n} dari {total} ({share}%), melebihi batas {rule['max_percent']}% "
                           f"untuk organisasi berpredikat {ORGANISATION_LABELS[organisation_predikat]}.",
            })
        if "min_percent" in rule and share < rule["min_percent"]:
            warnings.append({
                "predikat": group, "count": n, "percent": str(share), "limit": f"min {rule['min_percent']}%",
                "source": rule["source"],
                "message": f"{names}: {n} dari {total} ({share}%), kurang dari {rule['min_percent']}% "
                           f"untuk organisasi berpredikat {ORGANISATION_LABELS[organisation_predikat]}.",
            })
        if "min_count" in rule and n < rule["min_count"]:
            warnings.append({
                "predikat": group, "count": n, "percent": str(share), "limit": f"min {rule['min_count']} orang",
                "source": rule["source"],
                "message": f"{names}: {n} dari {total}; organisasi berpredikat "
                           f"{ORGANISATION_LABELS[organisation_predikat]} harus memiliki setidaknya "
                           f"{rule['min_count']} pegawai dengan predikat tersebut.",
            })
    return {
        "organisation_predikat": organisation_predikat,
        "organisation_predikat_label": ORGANISATION_LABELS[organisation_predikat],
        "total": total,
        "counts": {p.value: counts.get(p.value, 0) for p in Predikat},
        "percent": {p.value: str(_pct(counts.get(p.value, 0), total)) for p in Predikat},
        "warnings": warnings,
        "blocking": False,
    }


def default_organisation_predikat() -> str:
    return distribution_rules()["default_organisation_predikat"]
