"""Helpers the test suites and benchmarks share: real servers to run against.

Plain functions and context managers, with no pytest dependency, so a benchmark script can
use them as well as a fixture can.
"""
