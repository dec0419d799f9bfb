"""A synthetic web for testing and demonstrating linkgraph, served from memory.

- :mod:`~linkgraph.demo.model`: the site model, pages with their expected links;
- :mod:`~linkgraph.demo.server`: an HTTP proxy on loopback that serves it
  and logs every request;
- :mod:`~tests.synthweb.testweb`: the test web,
  every case of docs/crawling.md, edges.md and urls.md;
- :mod:`~tests.synthweb.testsites`: its hosts, seeds and hand-written pages;
- :mod:`~linkgraph.demo.web`: a small, realistic web for demos;
- :mod:`~tests.synthweb.oracle`: what a correct crawl of a web must fetch
  and store, computed from the declarations alone.

``python -m tests.synthweb serve --web test|demo --port 0 --port-file F``
runs the proxy as a process.
"""

from __future__ import annotations

from linkgraph.demo.model import ExpectedLink, Resource, RobotsRules, SyntheticWeb
from linkgraph.demo.server import NOT_PAGES, LoggedRequest, ProxyServer, RequestLog
from linkgraph.demo.web import DEMO_SEEDS, DEMO_TARGET, build_demo_web
from tests.synthweb.oracle import Expectation, expect, expected_backlinks
from tests.synthweb.testweb import build_test_web

__all__ = [
    "DEMO_SEEDS",
    "DEMO_TARGET",
    "NOT_PAGES",
    "WEBS",
    "Expectation",
    "ExpectedLink",
    "LoggedRequest",
    "ProxyServer",
    "RequestLog",
    "Resource",
    "RobotsRules",
    "SyntheticWeb",
    "build_demo_web",
    "build_test_web",
    "build_web",
    "expect",
    "expected_backlinks",
]

#: The webs ``build_web`` knows, by name.
WEBS = ("test", "demo")


def build_web(name: str, seed: int | None = None) -> SyntheticWeb:
    """The web called ``name`` (one of :data:`WEBS`); ``seed`` only shapes the test web."""
    if name == "test":
        return build_test_web() if seed is None else build_test_web(seed)
    if name == "demo":
        return build_demo_web()
    raise ValueError(f"unknown web {name!r}; choose one of {', '.join(WEBS)}")
