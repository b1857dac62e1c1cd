"""The app as the Procfile serves it, plus one trivial endpoint to compare the others against."""

from __future__ import annotations

from flask import Flask

from b24app import create_app


def create() -> Flask:
    """``create_app()`` from the environment, with ``GET /bench/trivial`` added."""
    app = create_app()

    def trivial() -> tuple[str, int, dict[str, str]]:
        return "ok", 200, {"Content-Type": "text/plain"}

    app.add_url_rule("/bench/trivial", "bench_trivial", trivial)
    return app
