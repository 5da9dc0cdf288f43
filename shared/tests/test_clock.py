from datetime import date, datetime, timezone

import pytest

from kinerja_shared.clock import (
    FileClock, FixedClock, SystemClock, batas_waktu, clock_from_settings, end_of_day,
    jakarta_date, start_of_day,
)
from kinerja_shared.settings import ServiceSettings


def test_a_day_in_jakarta_starts_at_17_utc_the_day_before():
    assert start_of_day(date(2026, 3, 31)).astimezone(timezone.utc) == datetime(2026, 3, 30, 17, tzinfo=timezone.utc)
    assert end_of_day(date(2026, 3, 31)).astimezone(timezone.utc).hour == 16
    # 23:59:59 WIB on 31 March is still 31 March; one second later is 1 April.
    assert jakarta_date(datetime(2026, 3, 31, 16, 59, 59, tzinfo=timezone.utc)) == date(2026, 3, 31)
    assert jakarta_date(datetime(2026, 3, 31, 17, 0, 0, tzinfo=timezone.utc)) == date(2026, 4, 1)


def test_deadline_text_is_indonesian():
    assert batas_waktu(date(2026, 3, 31)) == "31 Maret 2026 pukul 23.59.59 WIB"


def test_fixed_clock_moves():
    clock = FixedClock(datetime(2026, 1, 1, tzinfo=timezone.utc))
    clock.advance(days=1)
    assert clock.now() == datetime(2026, 1, 2, tzinfo=timezone.utc)


def test_file_clock_is_system_time_until_written(tmp_path):
    clock = FileClock(tmp_path / "now")
    assert abs((clock.now() - SystemClock().now()).total_seconds()) < 5
    clock.set(datetime(2026, 6, 30, 9, tzinfo=timezone.utc))
    first = FileClock(tmp_path / "now").now()
    assert datetime(2026, 6, 30, 9, tzinfo=timezone.utc) <= first < datetime(2026, 6, 30, 9, 0, 5, tzinfo=timezone.utc)
    # It runs on from the instant it was set: two readings are in order.
    assert FileClock(tmp_path / "now").now() > first


def test_file_clock_is_refused_in_production(tmp_path):
    settings = ServiceSettings(clock_file=str(tmp_path / "now"), environment="production")
    with pytest.raises(ValueError):
        clock_from_settings(settings)
    assert isinstance(clock_from_settings(ServiceSettings()), SystemClock)
