"""A logger file refused for a Chinese reader says why in Chinese, the damaged line's detail
included: only the file's own text (quoted), format names and units stay as they are."""
import re

import pytest
from flask_babel import refresh

from cell_chain.shipments.loggers import LoggerFileError, parse_logger_file

DAMAGED = {
    "picture": (b"\x89PNG\r\n\x1a\n....", "PNG"),
    "not a number": (b"timestamp,celsius\n2024-05-01T14:30:00Z,abc\n", "abc"),
    "not a real date": (b"timestamp,celsius\n2024-13-45 10:00,5\n", "2024-13-45 10:00"),
    "not ISO 8601": (b"timestamp,celsius\nyesterday noon,5\n", "yesterday noon"),
    "gzip": (b"\x1f\x8b\x08\x00....", "gzip"),
}
# What may stay in Latin letters: the file's format, units, standards and examples of layouts.
KEPT = re.compile(r"CSV|PNG|JPEG|GIF|PDF|Excel|gzip|ISO|UTC|GMT|hh:mm|yyyy-MM-dd|Berlinger|HOBO|Tinytag|T&D|Rotronic")


def refusal(app, data: bytes, language: str) -> str:
    with app.test_request_context(headers={"Accept-Language": language}):
        refresh()  # (the test's app context, and with it the language chosen, outlives each request)
        with pytest.raises(LoggerFileError) as refused:
            parse_logger_file(data, "logger.csv")
        return str(refused.value.args[0])


@pytest.mark.parametrize("case", DAMAGED)
def test_a_damaged_file_is_refused_in_the_readers_words(app, case):
    data, quoted = DAMAGED[case]
    english, chinese = refusal(app, data, "en"), refusal(app, data, "zh-CN")
    assert quoted in english and quoted in chinese
    left = KEPT.sub("", re.sub(r"“[^”]*”", "", chinese))
    assert not re.search(r"[A-Za-z]{3,}", left), chinese  # no English word outside the file's own text
    assert "文件" in chinese
