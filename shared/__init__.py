"""Everything but the implementations, in five packages that import one way only:
contract ← (implementations) ← reports ← harness ← studies ← commands (tests/test_layout.py checks it)."""
