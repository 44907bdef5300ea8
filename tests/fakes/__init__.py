"""Test-only libraries, registered by the tests (never shipped in the registry): each one
misbehaves in one way, to show that the harness keeps the damage to its own rows."""
