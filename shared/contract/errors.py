"""How a run ends early: bad usage or bad input (UsageError: exit status 2, one line), and SIGTERM
turned into an interrupt (Terminated: exit 143)."""


class UsageError(Exception):
    """Raised before any training starts; its message is printed as one line on stderr."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI cancel, `timeout`, `kill`), handled like Ctrl-C: stop the workers, report, exit 143."""


def raise_terminated(signum, frame) -> None:
    raise Terminated


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0] if text else ''}".rstrip(": ")
