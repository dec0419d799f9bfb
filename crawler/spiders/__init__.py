"""linkgraph's spiders."""
