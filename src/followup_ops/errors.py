"""Errors the command line turns into one line on stderr and an exit code."""

# Exit codes shared by every command.
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_REFUSED = 2  # refused by a gate before any host changed
EXIT_ROLLED_BACK = 3  # failed, and rolled back
EXIT_NONCOMPLIANT = 4  # non-compliant findings
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM, as shells report it


class OpsError(Exception):
    """A failure with a one-line message that names the problem and the fix."""

    exit_code = EXIT_ERROR

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class GateRefused(OpsError):
    """A gate refused the run before any host was touched."""

    exit_code = EXIT_REFUSED
