"""Words and colours for stored codes, and the template filters every page uses. Each
package's pages keep their own vocabulary: the same code may read differently on a lot page
and on a shipment page."""
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask import Flask


class Vocabulary:
    """What a stored code says to a person, and the tone (colour) of its tag. Colour always
    comes with the words; tones only pick the colour."""

    def __init__(self, words: Mapping[str, str], tones: Mapping[str, str]) -> None:
        self._words, self._tones = dict(words), dict(tones)

    def words(self, value: str | None) -> str:
        return "" if value is None else self._words.get(value, value.replace("_", " "))

    def tone(self, value: str | None) -> str:
        return self._tones.get(value or "", "")

    def extended(self, *, words: Mapping[str, str] | None = None,
                 tones: Mapping[str, str] | None = None) -> "Vocabulary":
        return Vocabulary({**self._words, **(words or {})}, {**self._tones, **(tones or {})})

    def helpers(self) -> dict[str, Any]:
        """For a blueprint's context processor."""
        return {"words": self.words, "tone": self.tone}


def utc(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else ""


def cells(count: float) -> str:
    return f"{count / 1e7:.2f} × 10⁷"


def init_app(app: Flask) -> None:
    app.add_template_filter(utc, "utc")
    app.add_template_filter(cells, "cells")
