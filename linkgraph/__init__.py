"""linkgraph: a distributed backlink index.

The data path, one package per stage::

    crawler/  (fetch, extract)  ->  pipelines/  (hand a page's links on)
      ->  consumers/  (normalize, dedupe, write)  ->  linkindex/  (schema, queries)
      ->  linkgraph.cli

``linkgraph.urls`` is the one definition of a URL that every stage imports.
"""

__version__ = "0.1.0"
