"""The plain error page that both the page and the API error paths render."""
from flask import render_template


def html_error_page(status: int, message: str | None) -> tuple[str, int]:
    return render_template("error.html", status=status, message=message), status
