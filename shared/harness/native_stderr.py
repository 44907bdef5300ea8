"""Quiet loading of native libraries: what their C++ code prints straight to file descriptor 2."""

from __future__ import annotations

import contextlib
import os


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence what C++ libraries print straight to file descriptor 2 while they load
    (TensorFlow's start-up log ignores Python's and its own log settings)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
