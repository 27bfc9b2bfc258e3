"""`python -m bench`: run the benchmarks, print the table, write bench/results.json."""

from bench.runner import main

main()
