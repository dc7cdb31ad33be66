"""The writer: market data in ClickHouse → regime, novelty, correlations → Redis with TTLs.

This subpackage is the ``writer`` extra: it imports chDB, clickhouse-connect, numpy and
pyarrow, which ``argus serve`` never loads. Nothing outside ``argus.writer`` (and the CLI
commands that import it lazily) may import it.
"""
