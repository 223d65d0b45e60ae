"""Services: one use case each (monitoring the champion, ...), orchestrating domain code and
I/O. Entry points (the DVC stages, the CLI, the REST service, the loop) call them; a service
never imports an entry point (the import contract in pyproject.toml, `make lint`)."""

from __future__ import annotations


class ServiceError(RuntimeError):
    """A service cannot go on; the message says why and what to do (no traceback needed)."""
