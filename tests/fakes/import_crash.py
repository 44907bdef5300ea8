"""A test-only library that dies of a segmentation fault while it is being imported."""

import os
import signal

NAME = "import_crash"
os.kill(os.getpid(), signal.SIGSEGV)
