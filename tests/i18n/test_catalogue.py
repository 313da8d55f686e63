"""The Simplified Chinese catalogue is complete: every message the templates and the code mark
for translation has a zh_Hans translation with the same placeholders and markup, and the
compiled catalogue the app loads is the one the .po file describes."""
import gettext
import io
import re
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "cell_chain" / "translations"
PO = CATALOGUES / "zh_Hans" / "LC_MESSAGES" / "messages.po"
MO = CATALOGUES / "zh_Hans" / "LC_MESSAGES" / "messages.mo"
KEYWORDS = {"_": None, "N_": None, "_l": None, "gettext": None, "lazy_gettext": None, "ngettext": (1, 2)}
METHODS = [("cell_chain/**.py", "python"), ("cell_chain/**/templates/**.html", "jinja2")]
PLACEHOLDERS = re.compile(r"%\([a-z_0-9]+\)s")
TAGS = re.compile(r"<[^>]+>")


def used_messages() -> dict[str, str]:
    """msgid → where it is used, extracted from the sources as `make messages` does."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=METHODS, keywords=KEYWORDS):
        for msgid in (message if isinstance(message, tuple) else (message,)):
            if msgid:
                found.setdefault(msgid, f"{filename}:{lineno}")
    return found


def chinese_catalogue():  # noqa: ANN201
    with PO.open("rb") as po:
        return read_po(po, locale="zh_Hans")


def untranslated(used: dict[str, str], catalogue) -> list[str]:  # noqa: ANN001
    return [f"{where}: {msgid!r}" for msgid, where in sorted(used.items())
            if not (entry := catalogue.get(msgid)) or not entry.string or entry.fuzzy]


def test_every_message_used_in_templates_and_code_is_translated_into_chinese():
    missing = untranslated(used_messages(), chinese_catalogue())
    assert not missing, f"{len(missing)} messages have no zh_Hans translation (run `make messages` " \
                             "and translate them):\n" + "\n".join(missing)


def test_translations_keep_every_tag_and_invent_no_placeholder():
    """Chinese has no plural endings: a translation may leave out a placeholder that only
    carries one (`%(value)s` = "s"), never add one the code does not pass, nor change markup."""
    catalogue = chinese_catalogue()
    broken = [f"{entry.id!r} → {entry.string!r}" for entry in catalogue
              if entry.id and entry.string
              and (not set(PLACEHOLDERS.findall(entry.string)) <= set(PLACEHOLDERS.findall(entry.id))
                   or sorted(TAGS.findall(entry.string)) != sorted(TAGS.findall(entry.id)))]
    assert not broken, "\n".join(broken)


def test_the_compiled_catalogue_is_the_po_file():
    compiled = io.BytesIO()
    write_mo(compiled, chinese_catalogue())
    expected = gettext.GNUTranslations(io.BytesIO(compiled.getvalue()))._catalog  # type: ignore[attr-defined]
    shipped = gettext.GNUTranslations(io.BytesIO(MO.read_bytes()))._catalog  # type: ignore[attr-defined]
    assert shipped == expected, "messages.mo is stale: run `make messages`"


def test_the_check_reports_a_message_without_a_translation():
    catalogue = chinese_catalogue()
    assert untranslated({"Record thaw": "a.html:1"}, catalogue) == []
    assert untranslated({"A message nobody translated": "b.py:2"}, catalogue) == [
        "b.py:2: 'A message nobody translated'"]
