"""The one error type that means "bad usage or bad input": exit status 2, one line."""


class UsageError(Exception):
    """Raised before any training starts; its message is printed as one line on stderr."""
