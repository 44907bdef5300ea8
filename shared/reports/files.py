"""Files a run writes (reports, figures, pages, host results): whole or absent, never half-written."""

from __future__ import annotations

import os
import tempfile


def _current_umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def write_atomically(path: str, data: str | bytes) -> None:
    """Write to a temporary file beside `path`, then rename: the file is whole or absent.
    A new file gets the usual 0o666 less the umask (mkstemp alone would make it 0600); a file
    that exists keeps its mode. Something that is not a regular file (a named pipe, a device)
    is never replaced."""
    path = os.path.realpath(path)  # a symbolic link keeps pointing at the new report
    if os.path.lexists(path) and not os.path.isfile(path):
        raise OSError(f"{path} exists and is not a regular file; not replacing it")
    mode = os.stat(path).st_mode & 0o7777 if os.path.isfile(path) else 0o666 & ~_current_umask()
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
