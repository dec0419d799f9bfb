"""Fetch and extract: the Scrapy side of linkgraph."""
