"""Test-suite-wide settings: markers registered here (pyproject.toml registers the others)."""

from __future__ import annotations


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "browser: renders a page in headless Chromium (.ci/run installs chromium)",
    )
