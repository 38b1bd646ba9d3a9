"""Both catalogs translate every message the console can show: the msgids Babel extracts from
the templates and the code, and every word a page takes from the domain (stages, roles, ...)."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

import console
from console import i18n
from console.words import everything_named

PACKAGE = Path(console.__file__).parent
METHODS = [("templates/**.html", "jinja2"), ("**.py", "python")]
OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n"}}


def shown_messages() -> set[str]:
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(PACKAGE), METHODS, options_map=OPTIONS):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found | everything_named()


def test_every_message_is_translated_in_both_languages() -> None:
    wanted = shown_messages()
    assert "Inbox" in wanted and "in_handling" in wanted and "action:approve" in wanted  # the walk finds them
    for language in i18n.LANGUAGES:
        catalog = i18n.catalog(language)
        untranslated = sorted(m for m in wanted if not (catalog.get(m) and catalog.get(m).string))
        assert untranslated == [], f"{language}: {untranslated}"
        # A key-like msgid (`action:approve`, `in_handling`) must not show as itself.
        raw = sorted(m for m in wanted if " " not in m and (":" in m or "_" in m) and catalog.get(m).string == m)
        assert raw == [], f"{language}: {raw}"


def test_chinese_is_the_default_and_english_follows_accept_language() -> None:
    zh, en = i18n.translations("zh_CN"), i18n.translations("en")
    assert zh.gettext("Inbox") == "待办"
    assert en.gettext("in_handling") == "in handling"
    assert zh.gettext("action:approve") == "批准方案"
