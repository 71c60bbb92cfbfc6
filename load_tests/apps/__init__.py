"""The baseline servers the benchmark compares the gateway with (each started as its own process)."""
