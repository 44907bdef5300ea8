"""An implementation file added from outside implementations/ (tests/test_adding_a_library.py)."""
