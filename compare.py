#!/usr/bin/env python3
"""nn-rosetta: train the same network in every library of implementations/ and show that they
compute what NumPy does, and how fast each is. `python compare.py --help`."""

import sys

if __name__ == "__main__":  # the import stays inside: worker processes re-run this file's top level
    from shared.commands.cli import main

    sys.exit(main())
