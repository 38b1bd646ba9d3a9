"""Languages: zh-CN first, English second, from Babel message catalogs (console/locale/*/messages.po).

The catalogs are read and compiled in memory when the app starts, so a fresh clone needs no
build step and no compiled .mo file is committed. The language is the person's toggle (a
cookie) if set, else the best of Accept-Language, else Chinese.
"""

from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations
from fastapi import Request

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("zh_CN", "en")  # the first is the default
DEFAULT = LANGUAGES[0]
LANG_COOKIE = "aftersales_lang"
# How each language names itself on the toggle.
NATIVE_NAMES = {"zh_CN": "中文", "en": "English"}


def catalog(language: str) -> Catalog:
    with open(LOCALE_DIR / language / "LC_MESSAGES" / "messages.po", "rb") as po:
        return read_po(po, locale=language)


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> Translations:
    compiled = io.BytesIO()
    write_mo(compiled, catalog(language))
    compiled.seek(0)
    return Translations(compiled)


def choose(request: Request) -> str:
    chosen = request.cookies.get(LANG_COOKIE)
    if chosen in LANGUAGES:
        return chosen
    wanted = []
    for part in request.headers.get("accept-language", "")[:200].split(","):
        tag, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            continue
        if tag:
            wanted.append((weight, tag.replace("-", "_")))
    preferred = [tag for _, tag in sorted(wanted, key=lambda pair: -pair[0])]
    return negotiate_locale(preferred, list(LANGUAGES), aliases={"zh": "zh_CN", "en": "en"}) or DEFAULT


def html_lang(language: str) -> str:
    return str(Locale.parse(language)).replace("_", "-")
