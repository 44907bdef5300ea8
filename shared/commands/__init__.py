"""The sub-commands of compare.py, one module each; shared/cli.py dispatches to them."""
