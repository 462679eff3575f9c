"""Built-in Kianda emulator: a real HTTP server on loopback following Kianda's API."""

from __future__ import annotations

from sync.emulator.faults import Faults
from sync.emulator.server import Emulator, User, load_processes
from sync.emulator.store import EmulatorError, EmulatorStore, Process

__all__ = [
    "Emulator",
    "EmulatorError",
    "EmulatorStore",
    "Faults",
    "Process",
    "User",
    "load_processes",
]
