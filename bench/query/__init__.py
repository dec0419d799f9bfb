"""``make bench-query``: a synthetic link graph at scale, and the query path timed over HTTP.

``python -m bench.query generate --data-dir DIR --edges N`` fills the
embedded index in DIR with a power-law link graph of exactly N edges, written
the way :func:`linkindex.writer.write_batch` writes a crawl: every edge into
``edges`` (the ``refdomains`` view follows) and ``edges_by_source``, and one
``pages`` row and two ``fetches`` rows per source page, with ``lost_at`` on
the links the later fetch no longer carried, so live and lost links mean what
they mean after real crawls; then it refreshes the domain rollups, as a crawl
does when it ends. It records what it made in ``DIR/bench.json``.

``python -m bench.query run --data-dir DIR`` starts ``linkgraph serve``
on DIR, times each query through the HTTP API (warm: a few runs first, then
median and 95th percentile of N runs), reads the bytes on disk per edge from
``system.parts``, and prints a Markdown table for the README.

- :mod:`~bench.query.graph`: the graph's shape and the SQL that generates it;
- :mod:`~bench.query.dataset`: generating it into an index, and the query
  targets chosen on it (``bench.json``);
- :mod:`~bench.query.timing`: the queries, their timing over HTTP, the table;
- :mod:`~bench.query.__main__`: the two commands.
"""
