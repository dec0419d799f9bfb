"""linkgraph: a distributed backlink index.

The data path, one package per stage, each importing only the ones below it::

    linkgraph.cli, linkgraph.demo   the command line (and the demo)
    linkgraph.api                   the HTTP API and the explorer page
    pipelines/  consumers/          hand page records on; Kafka into the index
    crawler/    linkindex/          fetch and extract; the index
    linkcore/                       URLs, page records, errors, settings, Kafka

:mod:`linkcore.urls` is the one definition of a URL that every stage imports.
"""

__version__ = "0.1.0"
