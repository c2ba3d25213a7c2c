"""The parts of `benchmarks.api_load`: machine probes, the server, its metrics, traffic, report."""
