"""Exceptions that stop a command, each knowing the exit code it leads to.

Row problems are not exceptions: they are records (``sync.convert.Problem``) that end
up in the results workbook. Exceptions are for stopping::

    SyncError                      exit 2 unless a subclass says otherwise
    +-- ConfigError                bad settings or options
    +-- MappingError               the mapping file is unusable
    +-- InputError                 the input file is unusable
    +-- LedgerError                the ledger cannot be opened or is locked
    +-- ApiError                   Kianda could not be used (exit 3)
        +-- ApiUnavailable         no answer: refused, reset, timed out
        +-- ApiAuthError           the login or token was refused (401/403)
        +-- ApiSetupError          the set-up keeps any request from leaving (TLS)
        +-- ApiRejected            Kianda answered with an error for one request
        +-- ApiRateLimited         429/503 that outlasted the retries
        +-- ApiStopped             waiting to be resent when the run was stopped
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, as ``design.md`` fixes them."""

    OK = 0
    ROWS_NOT_OK = 1
    NOTHING_DONE = 2
    ABORTED = 3


class SyncError(Exception):
    """Something that stops a command; its message is meant for an operations admin."""

    exit_code: ExitCode = ExitCode.NOTHING_DONE


class ConfigError(SyncError):
    """Settings or command-line options are missing or wrong."""


class MappingError(SyncError):
    """The mapping file cannot be used; nothing has been sent."""


class InputError(SyncError):
    """The input file cannot be read as a table; nothing has been sent."""


class LedgerError(SyncError):
    """The ledger cannot be opened, or another run holds it."""


class ApiError(SyncError):
    """Kianda could not be used; carries the HTTP status when there was one."""

    exit_code = ExitCode.ABORTED

    def __init__(
        self, message: str, *, status: int | None = None, advice: str = ""
    ) -> None:
        super().__init__(f"{message} {advice}" if advice else message)
        self.status = status
        self.what = message
        """What happened, without the advice on what to do next."""


class ApiUnavailable(ApiError):
    """No usable answer came back: connection refused or reset, or a timeout."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        maybe_sent: bool = True,
        advice: str = "",
    ) -> None:
        super().__init__(message, status=status, advice=advice)
        self.maybe_sent = maybe_sent


class ApiAuthError(ApiError):
    """Kianda refused the credentials (401 after a renewal, 403, or a failed login)."""


class ApiSetupError(ApiError):
    """No request can leave as things are set up (such as an untrusted certificate).

    Nothing reached Kianda, and every other request would fail the same way, so the
    run stops, like a refused login.
    """


class ApiRejected(ApiError):
    """Kianda answered one request with an error; that row fails, the run goes on."""


class ApiRateLimited(ApiError):
    """Kianda kept answering 429/503 after every retry."""


class ApiStopped(ApiError):
    """A request waited to be sent again when the run was stopped.

    Its last try was refused before Kianda acted on it (429, 503, a refused
    connection), so the row was in effect never sent: it is ``not attempted``.
    """
