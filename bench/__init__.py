"""lbctl's benchmarks: API-call budgets and timings (`make bench`, `python -m bench`).

See bench/README.md. Not part of `make test`; a `--quick` profile exists for tests.
"""
