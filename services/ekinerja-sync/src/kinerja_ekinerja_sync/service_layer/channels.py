"""Where each kind of record goes in e-Kinerja, and how to recognise it there.

One :class:`Channel` per record kind: the save and history calls of the client, and the rules
(domain/mapping.py) that find, in what e-Kinerja returns for a NIP, the record that already
holds this payload (read before re-sending after an ambiguous failure) or the record of the
same period that a later version updates. The worker, the reconciliation and the operator
tools go through these, so a final result, an agreed plan and a periodic review are sent,
retried and checked the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kinerja_ekinerja_sync.adapters.ekinerja_client import EkinerjaClient, EkinerjaResponse
from kinerja_ekinerja_sync.domain import mapping, model

Matcher = Callable[[list[dict[str, Any]], dict[str, Any]], "str | None"]


@dataclass(frozen=True)
class Channel:
    kind: str
    save: Callable[[EkinerjaClient, dict[str, Any]], Awaitable[EkinerjaResponse]]
    history: Callable[[EkinerjaClient, str], Awaitable[EkinerjaResponse]]
    already_stored: Matcher
    same_period_record: Matcher
    # Values a reconciliation compares (ids and timestamps are BKN's own).
    compared: tuple[str, ...]


CHANNELS: dict[str, Channel] = {
    model.RESULT: Channel(
        model.RESULT,
        save=lambda client, payload: client.save_kinerja_periodik(payload),
        history=lambda client, nip: client.kinerja_periodik_history(nip),
        already_stored=mapping.already_stored,
        same_period_record=mapping.same_period_record,
        compared=("hasilKinerjaNilai", "perilakuKerjaNilai", "kuadranKinerjaNilai", "koefisienId", "periodikId",
                  "penilaiNama", "penilaiNipNrp", "statusPenilai"),
    ),
    model.PLAN: Channel(
        model.PLAN,
        save=lambda client, payload: client.save_rencana_skp(payload),
        history=lambda client, nip: client.rencana_skp_history(nip),
        already_stored=mapping.skp_already_stored,
        same_period_record=mapping.skp_same_period_record,
        compared=("revisi", "jenisSkp", "koefisienId", "penilaiNama", "penilaiNipNrp", "statusPenilai",
                  "rencanaHasilKerja", "targetBulanan", "poinPengembanganKompetensi"),
    ),
    model.PERIODIC_REVIEW: Channel(
        model.PERIODIC_REVIEW,
        save=lambda client, payload: client.save_evaluasi_periodik(payload),
        history=lambda client, nip: client.evaluasi_periodik_history(nip),
        already_stored=mapping.review_already_stored,
        same_period_record=mapping.review_same_period_record,
        compared=("periodikId", "hasilKinerjaNilai", "umpanBalik", "penilaiNama", "penilaiNipNrp", "statusPenilai"),
    ),
}


def channel_for(kind: str | None) -> Channel:
    return CHANNELS[kind or model.RESULT]
