"""Identifiers as people read them: a dose code, shipment code, lot number, subject ID or DIN
is one word that never breaks across lines ("LZ-/0001" would read as two codes)."""
from flask import Flask
from markupsafe import Markup, escape


def ident(value: object) -> Markup:
    """`{{ dose.code|ident }}`: the identifier in the one class that keeps it on one line."""
    if value is None or value == "":
        return Markup("")
    return Markup('<span class="ident">%s</span>') % escape(str(value))


def init_app(app: Flask) -> None:
    app.add_template_filter(ident, "ident")
