#!/usr/bin/env python3
"""nn-rosetta: train the same network in NumPy, PyTorch, TensorFlow, Keras 3 and JAX and show
that they compute the same thing, and how fast each is. `python compare.py --help`."""

import sys

if __name__ == "__main__":  # the import stays inside: worker processes re-run this file's top level
    from shared.commands.cli import main

    sys.exit(main())
