"""The exit codes every run_kiosk.py command uses: done, failed, or refused its input."""

EXIT_OK = 0
# The command ran and could not do its work (a refused write, an unreachable server).
EXIT_FAILED = 1
# The input was wrong (a bad option, an unreadable file); the message says what to change.
EXIT_BAD_INPUT = 2
