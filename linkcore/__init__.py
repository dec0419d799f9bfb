"""The ground floor every other package of linkgraph stands on.

What a URL is (:mod:`linkcore.urls`), what the crawler hands on for a fetched
page (:mod:`linkcore.records`), the one exception root (:mod:`linkcore.errors`),
every setting with its default (:mod:`linkcore.config`), the Kafka clients and
the page message format (:mod:`linkcore.kafka`), seeds (:mod:`linkcore.seeds`)
and metrics (:mod:`linkcore.metrics`). It imports nothing of linkgraph's own
packages.
"""
