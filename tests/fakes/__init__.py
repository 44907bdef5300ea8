"""Test-only libraries, registered by the tests (never shipped in the registry): each one
misbehaves in one way, to show that the harness keeps the damage to its own rows."""

# A fake's "forever": far longer than the --timeout any test gives the harness to stop it (10 s at
# most), and shorter than a test's own time limit (pyproject.toml's timeout), so that a fake the
# harness failed to stop still ends by itself while its test fails (tests/test_suite.py checks it).
FOREVER_S = 100
