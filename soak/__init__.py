"""The nemesis soak (``make soak``): real processes, random faults, invariants checked at the end.

See ``soak/README.md``.
"""
