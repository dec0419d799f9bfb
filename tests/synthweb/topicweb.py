"""A labelled web of topics: relevance must tell same-topic links from the rest.

:func:`build_topic_web` serves :data:`SITES_PER_TOPIC` sites for each topic
of :data:`TOPICS` (cooking, plumbing, gambling, programming, gardening,
cycling), :data:`PAGES_PER_SITE` pages each. Every page is written like a
real one, so that telling its topic takes more than counting its words:

- a navigation bar and a footer that every site shares word for word, and
  an article whose words are mostly generic (:data:`_FILLER`); about one
  word in four is the topic's, most of them from the page's own subtopic
  (baking vs. grilling vs. pasta), so two pages of one topic may share few
  words; some topic words are shared by two topics (kitchen, water, heat,
  code, chips ...);
- links inside the article to pages of other sites, half of the same topic
  and half of another (:attr:`TopicWeb.labels` says which), and one to a
  page of another site that robots.txt keeps the crawler from (its
  relevance then comes from the target domain's pages); a link to a host
  outside the crawl, which has no relevance.

Deterministic in its seed.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Final

from linkgraph.demo.model import PageBuilder, RobotsRules, SyntheticWeb

__all__ = ["PAGES_PER_SITE", "SITES_PER_TOPIC", "TOPICS", "TopicWeb", "build_topic_web"]


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: Each topic's subtopics and their words.
TOPICS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "cooking": (
        _words(
            "flour dough oven yeast bake bread pastry butter sugar knead loaf crust "
            "cake whisk batter kitchen heat recipe"
        ),
        _words(
            "grill charcoal marinade smoke barbecue steak brisket ribs sear skewer "
            "tongs rub sauce char kitchen heat recipe chips"
        ),
        _words(
            "pasta spaghetti basil tomato garlic olive parmesan noodle boil simmer "
            "pesto sauce ravioli lasagna kitchen water recipe"
        ),
    ),
    "plumbing": (
        _words(
            "pipe leak faucet valve drain sink wrench washer drip seal joint solder "
            "copper fitting water kitchen"
        ),
        _words(
            "boiler heater radiator thermostat pressure tank furnace flue pilot "
            "heat water expansion gauge vent"
        ),
        _words(
            "toilet sewer clog plunger septic trap cistern flush snake auger "
            "blockage drain pipe water"
        ),
    ),
    "gambling": (
        _words(
            "casino roulette blackjack dealer chips croupier wheel table jackpot "
            "wager odds bonus slot"
        ),
        _words("poker bluff flop river tournament raise fold ante pot chips hand showdown odds"),
        _words(
            "betting bookmaker odds wager accumulator parlay stake payout "
            "sportsbook handicap bonus jackpot"
        ),
    ),
    "programming": (
        _words(
            "python function variable compiler syntax debug module library import "
            "class object code runtime interpreter"
        ),
        _words(
            "database query index schema table transaction join server cache replica code latency"
        ),
        _words(
            "javascript browser framework component render async promise bundle "
            "frontend code library debug"
        ),
    ),
    "gardening": (
        _words(
            "tomato seedling compost soil mulch prune harvest greenhouse "
            "fertilizer sow perennial water"
        ),
        _words("rose shrub hedge lawn mower bloom petal bulb trowel weeding border soil"),
        _words("orchard apple pear graft blossom pollination fruit tree ladder harvest soil"),
    ),
    "cycling": (
        _words(
            "bicycle saddle pedal chain derailleur gear cassette crank tyre puncture frame wheel"
        ),
        _words("race peloton sprint climb stage jersey breakaway cadence watts training wheel"),
        _words("touring pannier route trail gravel helmet commute mileage camping frame map"),
    ),
}
#: Sites per topic, pages per site.
SITES_PER_TOPIC: Final = 2
PAGES_PER_SITE: Final = 6

# Generic words every page uses most (none is a stopword).
_FILLER: Final = _words(
    """
    people year time day week month world life family friend place story people great
    small large simple quick easy hard best better good right left early late first
    second third last long short high low little important different possible common
    local public general special whole free open full clear ready recent strong
    question answer reason result problem example idea change part point group number
    system service product price order market company team member person child house
    room area city country street night morning evening weekend summer winter spring
    autumn hour minute moment start finish turn keep hold bring carry show tell talk
    feel think believe remember forget learn teach try help work play move live stay
    buy sell pay spend save cost value quality choice option guide tip list review
    reader writer article story detail advice experience mistake lesson success plan
    """
)
_NAV: Final = ("Home", "About us", "Contact", "Archive", "Newsletter")
_FOOTER: Final = (
    "Copyright 2026. All rights reserved. Privacy policy. Terms of use. Follow us for "
    "more stories, guides and reviews every week."
)


@dataclass
class TopicWeb:
    """The web, each served page's topic, and the article links between sites.

    ``labels`` holds ``(source_url, target_url, same_topic)`` for every
    article link to another site's page (fetched or kept out by robots.txt);
    ``unknown`` the links to hosts outside the crawl.
    """

    web: SyntheticWeb
    topic_of: dict[str, str] = field(default_factory=dict)
    labels: list[tuple[str, str, bool]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    private: set[str] = field(default_factory=set)


def _host(topic: str, site: int) -> str:
    return f"www.{topic}-site{site}.com"


def _url(topic: str, site: int, page: int) -> str:
    return f"http://{_host(topic, site)}/" if page == 0 else f"http://{_host(topic, site)}/p{page}"


def _private(topic: str, site: int, page: int) -> str:
    return f"http://{_host(topic, site)}/private/p{page}"


def _paragraph(rng: random.Random, topic: str, subtopic: int) -> str:
    subtopics = TOPICS[topic]
    words = []
    for _ in range(rng.randint(40, 60)):
        if rng.random() < 0.25:
            pool = subtopics[subtopic] if rng.random() < 0.7 else rng.choice(subtopics)
            words.append(rng.choice(pool))
        else:
            words.append(rng.choice(_FILLER))
    return " ".join(words).capitalize() + "."


def build_topic_web(seed: int = 16) -> TopicWeb:
    """The labelled topic web (see module doc)."""
    rng = random.Random(seed)
    web = SyntheticWeb()
    result = TopicWeb(web)
    sites = [(topic, site) for topic in TOPICS for site in range(SITES_PER_TOPIC)]
    for topic, site in sites:
        host = _host(topic, site)
        web.domains[host] = f"{topic}-site{site}.com"
        web.robots[host] = RobotsRules((("*", ("/private/",)),))
        for page in range(PAGES_PER_SITE):
            result.topic_of[_url(topic, site, page)] = topic
    web.domains["www.elsewhere-unknown.com"] = "elsewhere-unknown.com"
    for topic, site in sites:
        others = [(t, s) for t, s in sites if (t, s) != (topic, site)]
        for page in range(PAGES_PER_SITE):
            url = _url(topic, site, page)
            subtopic = page % len(TOPICS[topic])
            builder = PageBuilder(url, f"{topic} {page}".title())
            builder.body("<header><nav>")
            for number, name in enumerate(_NAV):
                target = _url(topic, site, (page + number + 1) % PAGES_PER_SITE)
                if target != url:
                    builder.a(target, name, target)
            builder.body("</nav></header><main><article>")
            paragraphs = [_paragraph(rng, topic, subtopic) for _ in range(rng.randint(4, 6))]
            for number, text in enumerate(paragraphs):
                builder.body(f"<p>{text}")
                if number < 3:
                    same = number != 1 if page % 2 else number == 1
                    pool = [o for o in others if (o[0] == topic) == same]
                    other_topic, other_site = rng.choice(pool)
                    target = _url(other_topic, other_site, rng.randrange(PAGES_PER_SITE))
                    builder.a(target, "see also", target)
                    result.labels.append((url, target, other_topic == topic))
                elif number == 3:
                    pool = [o for o in others if (o[0] == topic) == (page % 2 == 0)]
                    other_topic, other_site = rng.choice(pool)
                    target = _private(other_topic, other_site, rng.randrange(PAGES_PER_SITE))
                    builder.a(target, "members only", target)
                    result.labels.append((url, target, other_topic == topic))
                    result.private.add(target)
                builder.body("</p>")
            unknown = f"http://www.elsewhere-unknown.com/{topic}/{page}"
            builder.a(unknown, "elsewhere", unknown)
            result.unknown.append((url, unknown))
            builder.body(f"</article></main><footer><p>{_FOOTER}</p></footer>")
            web.add(builder.resource())
    web.seeds = web.seed_urls = tuple(_url(topic, site, 0) for topic, site in sites)
    return result
