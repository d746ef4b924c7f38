"""``make bench`` (``python -m benchmarks``): the fetch benchmark (and the feed's, when present). See README.md."""
