"""kianda-sync: keep Kianda process instances in step with spreadsheets.

The Python API is ``sync.run_sync``, ``sync.validate`` and ``sync.reconcile`` (see
``sync.api``); they return a summary. Importing ``sync`` stays cheap: the API
loads on first use.
"""

from __future__ import annotations

import logging
from typing import Any

__version__ = "0.1.0"
__all__ = ["reconcile", "run_sync", "validate"]

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    if name in __all__:
        from sync import api

        return getattr(api, name)
    raise AttributeError(f"module 'sync' has no attribute {name!r}")
