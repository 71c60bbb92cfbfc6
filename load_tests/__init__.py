"""Load tests (``make load``) and side-by-side benchmarks (``make bench``) for the canaryline gateway.

Everything here drives real processes over real HTTP on this machine's loopback; see ``README.md``.
"""
