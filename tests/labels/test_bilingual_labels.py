"""Wristbands and assignment labels for people at a Chinese-language site: Chinese and English
on the label, the Chinese set in an embedded CJK font that has every character (no tofu), and
every barcode still decoding to its exact payload from the PDF at 300 dpi."""
import ctypes
import re
import subprocess
from pathlib import Path

import pypdfium2
import pypdfium2.raw as pdfium_c
import pytest
import zxingcpp
from fontTools.ttLib import TTCollection, TTFont

from cell_chain.core.isbt128 import Coi, Din, ProductCode, assignment_compound
from cell_chain.labels.rendering import (
    AssignmentLabel,
    WristbandLabel,
    render_pdf,
    render_png,
    render_zpl,
    template_version,
)

PREVIEWS = Path(__file__).resolve().parents[2] / "test-output" / "labels"
DIN, PRODUCT, COI = Din("A9999", 26, 123), ProductCode("YA001", "V", "00"), Coi("A9999", 26, 45)
CJK = re.compile(r"[\u3400-\u9fff]")


def assignment(*, bilingual: bool = True, reprint: int = 0) -> AssignmentLabel:
    return AssignmentLabel(subject_id="LZ-0042", initials="AB", coi=COI, visit_number=2, din=DIN,
                           product=PRODUCT, dose_code=f"{DIN.code}-000002", reprint=reprint, bilingual=bilingual)


def wristband(*, bilingual: bool = True, reprint: int = 0) -> WristbandLabel:
    return WristbandLabel(subject_id="LZ-0042", initials="AB", birth_year=1971, payload="PT:LZ-0042",
                          reprint=reprint, bilingual=bilingual)


EXPECTED = {
    "assignment": (assignment, [("DataMatrix", assignment_compound(COI, DIN, PRODUCT))],
                   ("受试者分配", "受试者编号", "身份链", "第 2/4 次访视", "剂量编号", "补打", "SUBJECT ASSIGNMENT",
                    "Visit 2 of 4", "REPRINT 1")),
    "wristband": (wristband, [("Code128", "PT:LZ-0042"), ("QRCode", "PT:LZ-0042")],
                  ("临床试验受试者", "缩写", "出生年份", "补打", "TRIAL SUBJECT", "Initials", "Born", "REPRINT 1")),
}


class Read:
    """A rendered page read back: its text, the font of each character, its barcodes."""

    def __init__(self, pdf: bytes) -> None:
        document = pypdfium2.PdfDocument(pdf)
        try:
            page = document[0]
            self.image = page.render(scale=300 / 72).to_pil()
            textpage = page.get_textpage()
            self.text = textpage.get_text_range()
            self.fonts: dict[str, set[str]] = {}
            buffer, flags = ctypes.create_string_buffer(256), ctypes.c_int()
            for index in range(textpage.count_chars()):
                char = chr(pdfium_c.FPDFText_GetUnicode(textpage, index))
                if pdfium_c.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags)):
                    self.fonts.setdefault(char, set()).add(buffer.value.decode())
        finally:
            document.close()
        self.barcodes = sorted((r.format.name, r.text) for r in
                               zxingcpp.read_barcodes(self.image, text_mode=zxingcpp.TextMode.Plain))


@pytest.fixture(scope="module")
def chinese() -> dict[str, Read]:
    PREVIEWS.mkdir(parents=True, exist_ok=True)
    read = {}
    for kind, (make, _, _) in EXPECTED.items():
        read[kind] = Read(render_pdf(kind, [make(reprint=1)]))
        (PREVIEWS / f"{kind}-zh_Hans.png").write_bytes(render_png(kind, make(), dpi=200))
    return read


def noto_cjk_cmap() -> set[int]:
    """The characters the Noto Sans CJK SC font on this machine has (what WeasyPrint embeds)."""
    path = subprocess.run(["fc-match", "-f", "%{file}", "Noto Sans CJK SC"], check=True,
                          capture_output=True, text=True).stdout
    assert "NotoSansCJK" in path, f"fonts-noto-cjk is not installed (fc-match gave {path!r}): make system-deps"
    fonts = TTCollection(path).fonts if path.endswith(".ttc") else [TTFont(path)]
    return set(fonts[0].getBestCmap())


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_chinese_site_label_prints_with_its_bilingual_template(kind):
    make = EXPECTED[kind][0]
    assert template_version(kind, [make()]) == "v2"
    assert template_version(kind, [make(bilingual=False)]) == "v1"


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_barcode_still_decodes_on_the_chinese_label(chinese, kind):
    assert chinese[kind].barcodes == EXPECTED[kind][1]


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_the_label_reads_in_chinese_and_english(chinese, kind):
    text = " ".join(chinese[kind].text.split())
    for words in EXPECTED[kind][2]:
        assert words in text, (words, text)
    assert f"Label template {kind}/v2" in text


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_chinese_characters_are_set_in_the_embedded_cjk_font_which_has_them_all(chinese, kind):
    used = {char for char in chinese[kind].fonts if CJK.match(char)}
    assert len(used) > 5
    for char in used:
        assert all("Noto" in font and "CJK" in font for font in chinese[kind].fonts[char]), (char, chinese[kind].fonts[char])
    assert not used - {chr(code) for code in noto_cjk_cmap()}, "characters the CJK font lacks would print as boxes"
    latin = {char for char in chinese[kind].fonts if char.isascii() and char.isalnum()}
    assert all(any("DejaVu" in font for font in chinese[kind].fonts[char]) for char in latin)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_zpl_sends_utf8_chinese_in_the_printers_unicode_font(kind):
    zpl = render_zpl(kind, [EXPECTED[kind][0]()])
    assert "^CI28" in zpl and "^CW1,E:ANMDJ.TTF" in zpl
    assert re.search(r"\^A1[NR],\d+,\d+\^FH\^FD[^\^]*[\u4e00-\u9fff]", zpl)
    english = render_zpl(kind, [EXPECTED[kind][0](bilingual=False)])
    assert not CJK.search(english) and "^CW1" not in english
