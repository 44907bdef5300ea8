#!/usr/bin/env python3
"""nn-rosetta: train the same network in NumPy, PyTorch, TensorFlow, Keras 3 and JAX and show
that they compute the same thing, and how fast each is. `python compare.py --help`."""

import sys

from shared.cli import main

if __name__ == "__main__":
    sys.exit(main())
