"""The shared frontier of distributed crawls, kept in Redis.

One module per role, in the manner of scrapy-redis:

- :mod:`.connection`: the one Redis client factory;
- :mod:`.keys`: every key name, under one prefix;
- :mod:`.queue`: per-job FIFO queues with leases (a request popped by a worker
  that dies is handed out again when its lease expires);
- :mod:`.bloom`: a per-job Bloom filter of normalized URLs (the dupefilter);
- :mod:`.ratelimit`: a per-host request rate that holds across all workers.

Every multi-step change is one Lua script, timed by the Redis server's clock so
that workers on machines with skewed clocks agree.
"""
