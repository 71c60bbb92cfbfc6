"""Side-by-side benchmark of the gateway against bare BentoML, MLServer and floors (``make bench``).

One run, arms interleaved over rounds, servers pinned to core 0 and the load generator to core 1; CPU
time per request is the headline, p99s come only from fixed-rate arms, and every figure is reported as a
ratio within a round. See ``load_tests/README.md`` for the method and ``python -m load_tests.bench -h``.
"""
