"""The demo web: ten small sites that look like a corner of the real web.

A news site, a magazine, a wiki, a forum, a deals site, two blogs on
``github.io`` and a recipe blog, all talking about a kit shop on ``co.uk``, so
that after ``linkgraph crawl`` over :data:`DEMO_SEEDS`,
``linkgraph backlinks`` :data:`DEMO_TARGET` prints a varied answer: editorial
links, image links, ``ugc`` forum links, ``sponsored`` deals, ``nofollow`` wiki
references, links to several hosts of the shop.

Links are plain ``http://`` URLs (the proxy serves no https) or simple relative
paths, with their normalized targets written alongside.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Final

from linkgraph.demo.model import (
    ExpectedLink,
    PageBuilder,
    RobotsRules,
    SyntheticWeb,
    check_domains,
)

__all__ = ["DEMO_DOMAINS", "DEMO_SEEDS", "DEMO_TARGET", "build_demo_web"]

#: The domain to ask ``linkgraph backlinks`` about.
DEMO_TARGET: Final = "tinkerbox.co.uk"

#: Every host of the demo web and its registered domain.
DEMO_DOMAINS: Final[dict[str, str]] = {
    "www.harbor-daily.com": "harbor-daily.com",
    "harbor-daily.com": "harbor-daily.com",
    "pixelpress.net": "pixelpress.net",
    "openatlas-wiki.org": "openatlas-wiki.org",
    "maker-forum.net": "maker-forum.net",
    "www.dealhunter.com": "dealhunter.com",
    "mara-codes.github.io": "mara-codes.github.io",
    "jonas-builds.github.io": "jonas-builds.github.io",
    "greenleaf-recipes.com": "greenleaf-recipes.com",
    "shop.tinkerbox.co.uk": "tinkerbox.co.uk",
    "tinkerbox.co.uk": "tinkerbox.co.uk",
    "help.tinkerbox.co.uk": "tinkerbox.co.uk",
    "www.vidstream.com": "vidstream.com",
    "chirper.social": "chirper.social",
}

#: Seeds for a demo crawl: every demo site (bare domains and URLs, as users write them).
DEMO_SEEDS: Final = (
    "http://www.harbor-daily.com/",
    "pixelpress.net",
    "openatlas-wiki.org",
    "maker-forum.net",
    "http://www.dealhunter.com/",
    "mara-codes.github.io",
    "jonas-builds.github.io",
    "greenleaf-recipes.com",
    "http://shop.tinkerbox.co.uk/",
)
_DEMO_SEED_URLS: Final = (
    "http://www.harbor-daily.com/",
    "http://pixelpress.net/",
    "http://openatlas-wiki.org/",
    "http://maker-forum.net/",
    "http://www.dealhunter.com/",
    "http://mara-codes.github.io/",
    "http://jonas-builds.github.io/",
    "http://greenleaf-recipes.com/",
    "http://shop.tinkerbox.co.uk/",
)


@dataclass(frozen=True, slots=True)
class _Link:
    """An absolute ``http://`` link: its URL is its own normal form."""

    url: str
    anchor: str
    rel: str = ""
    image_alt: str | None = None
    #: The normalized target when ``url`` is not already normal (tracking parameters).
    target: str | None = None


@dataclass(slots=True)
class _Page:
    path: str
    title: str
    text: str
    links: list[_Link] = field(default_factory=list)


@dataclass(slots=True)
class _Site:
    host: str
    name: str
    pages: list[_Page]
    robots: RobotsRules | None = None
    #: rel value the site puts on every outbound link (a wiki's "nofollow").
    outbound_rel: str = ""


def _flags(rel: str) -> tuple[bool, bool, bool]:
    # The demo only writes lower-case, space-separated rel values.
    tokens = rel.split()
    return "nofollow" in tokens, "ugc" in tokens, "sponsored" in tokens


def _render(site: _Site) -> list[PageBuilder]:
    """Every page of ``site``: a nav bar to its other pages, then its text and links."""
    builders = []
    for page in site.pages:
        url = f"http://{site.host}{page.path}"
        builder = PageBuilder(url, f"{page.title} - {site.name}")
        builder.body("<nav>")
        for other in site.pages[:6]:
            anchor = site.name if other.path == "/" else other.title
            builder.a(other.path, anchor, f"http://{site.host}{other.path}")
        builder.body("</nav>")
        builder.body(f"<h1>{html.escape(page.title)}</h1>\n<p>{html.escape(page.text)}</p>")
        for link in page.links:
            internal = link.url.startswith(f"http://{site.host}/")
            rel = link.rel or ("" if internal else site.outbound_rel)
            nofollow, ugc, sponsored = _flags(rel)
            target = link.target or link.url
            if link.image_alt is not None:
                rel_attr = f' rel="{rel}"' if rel else ""
                builder.body(
                    f'<p><a href="{html.escape(link.url)}"{rel_attr}>'
                    f'<img src="/img/banner.png" alt="{html.escape(link.image_alt)}"></a></p>',
                    ExpectedLink(
                        target,
                        anchor=link.image_alt,
                        image=True,
                        nofollow=nofollow,
                        ugc=ugc,
                        sponsored=sponsored,
                    ),
                )
            else:
                builder.body("<p>")
                builder.a(
                    link.url,
                    link.anchor,
                    target,
                    rel=rel,
                    nofollow=nofollow,
                    ugc=ugc,
                    sponsored=sponsored,
                )
                builder.body("</p>")
        builders.append(builder)
    return builders


SHOP: Final = "http://shop.tinkerbox.co.uk"
HELP: Final = "http://help.tinkerbox.co.uk"
NEWS: Final = "http://www.harbor-daily.com"
WIKI: Final = "http://openatlas-wiki.org"
MARA: Final = "http://mara-codes.github.io"
JONAS: Final = "http://jonas-builds.github.io"


#: The shop's kits: (slug, name).
_PRODUCTS: Final = (
    ("soldering-starter-kit", "Soldering starter kit"),
    ("weather-station-kit", "Weather station kit"),
    ("led-matrix-kit", "LED matrix kit"),
    ("robot-arm-kit", "Robot arm kit"),
    ("synth-kit", "Pocket synth kit"),
    ("radio-kit", "Crystal radio kit"),
)


def _tinkerbox() -> list[_Site]:
    """The shop, its help centre and its company page: the demo's target."""
    shop_pages = [
        _Page(
            "/",
            "Tinkerbox",
            "Electronics kits for curious people, posted from Bristol.",
            [_Link(f"{SHOP}/kits/{slug}", title) for slug, title in _PRODUCTS]
            + [
                _Link(f"{HELP}/", "Help centre"),
                _Link("http://tinkerbox.co.uk/", "About us"),
                _Link("http://www.vidstream.com/tinkerbox", "Our videos"),
                _Link("http://chirper.social/@tinkerbox", "Follow us"),
            ],
        ),
    ]
    for slug, title in _PRODUCTS:
        shop_pages.append(
            _Page(
                f"/kits/{slug}",
                title,
                f"The {title.lower()}, with every part and a manual.",
                [
                    _Link(f"{SHOP}/basket/add?kit={slug}", "Add to basket"),
                    _Link(f"{HELP}/guides/{slug}", f"{title} guide"),
                ],
            )
        )
    help_pages = [
        _Page(
            "/",
            "Tinkerbox help",
            "Guides and answers.",
            [_Link(f"{HELP}/guides/{slug}", f"{title} guide") for slug, title in _PRODUCTS]
            + [_Link(f"{SHOP}/", "Back to the shop")],
        ),
    ] + [
        _Page(
            f"/guides/{slug}",
            f"{title} guide",
            f"Step by step: building the {title.lower()}.",
            [
                _Link(f"{SHOP}/kits/{slug}", f"Buy the {title.lower()}"),
                _Link(f"{WIKI}/wiki/Soldering", "Soldering on OpenAtlas"),
            ],
        )
        for slug, title in _PRODUCTS
    ]
    apex = [
        _Page(
            "/",
            "About Tinkerbox",
            "A small company making electronics kits since 2014.",
            [_Link(f"{SHOP}/", "Visit the shop")],
        ),
    ]
    return [
        _Site(
            "shop.tinkerbox.co.uk",
            "Tinkerbox",
            shop_pages,
            robots=RobotsRules((("*", ("/basket/",)),)),
        ),
        _Site("help.tinkerbox.co.uk", "Tinkerbox help", help_pages),
        _Site("tinkerbox.co.uk", "Tinkerbox Ltd", apex),
    ]


def _news() -> _Site:
    """A local news site: editorial links."""
    news_articles: list[tuple[str, str, str, list[_Link]]] = [
        (
            "/2024/05/bristol-makers-boom",
            "Bristol's makers are booming",
            "Small kit makers report record sales.",
            [
                _Link(f"{SHOP}/", "Tinkerbox"),
                _Link(f"{SHOP}/kits/soldering-starter-kit", "its soldering starter kit"),
                _Link(f"{NEWS}/2024/04/schools-electronics", "our report on schools"),
            ],
        ),
        (
            "/2024/04/schools-electronics",
            "Schools bring back electronics",
            "Teachers turn to kits to teach circuits.",
            [
                _Link(f"{SHOP}/kits/led-matrix-kit", "an LED matrix kit from Tinkerbox"),
                _Link(f"{WIKI}/wiki/Printed_circuit_board", "printed circuit boards"),
            ],
        ),
        (
            "/2024/03/weather-at-home",
            "Measuring the weather at home",
            "Citizen scientists build their own stations.",
            [
                _Link(f"{SHOP}/kits/weather-station-kit", "Tinkerbox weather station kit"),
                _Link(f"{JONAS}/posts/weather-station", "one reader's build log"),
            ],
        ),
        (
            "/2024/02/harbour-festival",
            "Harbour festival returns",
            "Boats, music and food on the quay.",
            [_Link("http://greenleaf-recipes.com/recipes/harbour-chowder", "a chowder recipe")],
        ),
        (
            "/2024/01/repair-cafes",
            "Repair cafés spread",
            "Volunteers fix toasters and radios.",
            [
                _Link(f"{HELP}/guides/radio-kit", "Tinkerbox's radio guide"),
                _Link("http://maker-forum.net/t/radio-repair", "a forum thread on radio repair"),
            ],
        ),
    ]
    local_news = (
        ("ferry-timetable", "New ferry timetable"),
        ("library-opens", "Library reopens"),
        ("bridge-repairs", "Bridge repairs start"),
        ("market-day", "Market day moves"),
        ("rowing-club", "Rowing club wins"),
        ("bus-lanes", "Bus lanes approved"),
        ("museum-night", "A night at the museum"),
        ("tide-record", "Record high tide"),
        ("coding-club", "Coding club for kids"),
        ("cafe-awards", "Café awards announced"),
        ("harbour-lights", "Harbour lights switched on"),
        ("science-week", "Science week"),
    )
    for number, (slug, title) in enumerate(local_news):
        links = [_Link(f"{NEWS}/2024/05/bristol-makers-boom", "Bristol's makers")]
        if slug in ("coding-club", "science-week"):
            links.append(_Link(f"{SHOP}/kits/{_PRODUCTS[number % 6][0]}", "a Tinkerbox kit"))
        if slug == "cafe-awards":
            links.append(_Link("http://greenleaf-recipes.com/", "Greenleaf's recipes"))
        news_articles.append((f"/2023/{number + 1:02d}/{slug}", title, f"{title}.", links))
    news_pages = [
        _Page(
            "/",
            "Harbor Daily",
            "News from the harbour city.",
            [_Link(f"{NEWS}{path}", title) for path, title, _, _ in news_articles],
        ),
    ] + [_Page(path, title, text, links) for path, title, text, links in news_articles]
    return _Site("www.harbor-daily.com", "Harbor Daily", news_pages)


def _wiki() -> _Site:
    """A wiki whose outbound links are nofollow."""
    wiki_pages = [
        _Page(
            "/",
            "OpenAtlas",
            "The free encyclopedia of making things.",
            [
                _Link(f"{WIKI}/wiki/Soldering", "Soldering"),
                _Link(f"{WIKI}/wiki/Printed_circuit_board", "Printed circuit board"),
                _Link(f"{WIKI}/wiki/Crystal_radio", "Crystal radio"),
            ],
        ),
        _Page(
            "/wiki/Soldering",
            "Soldering",
            "Soldering joins metal parts with a filler metal.",
            [
                _Link(f"{WIKI}/wiki/Printed_circuit_board", "printed circuit boards"),
                _Link(f"{HELP}/guides/soldering-starter-kit", "Tinkerbox soldering guide"),
                _Link(f"{MARA}/posts/first-solder", "A beginner's account"),
            ],
        ),
        _Page(
            "/wiki/Printed_circuit_board",
            "Printed circuit board",
            "A board that connects components with copper tracks.",
            [_Link(f"{WIKI}/wiki/Soldering", "soldering")],
        ),
        _Page(
            "/wiki/Crystal_radio",
            "Crystal radio",
            "The simplest radio receiver.",
            [
                _Link(f"{SHOP}/kits/radio-kit", "Tinkerbox crystal radio kit"),
                _Link(f"{WIKI}/wiki/Soldering", "soldering"),
            ],
        ),
    ]
    for article, text in (
        ("Resistor", "A component that resists current."),
        ("Capacitor", "A component that stores charge."),
        ("Light-emitting_diode", "A diode that emits light."),
        ("Microcontroller", "A small computer on one chip."),
        ("Weather_station", "Instruments that measure the weather."),
        ("Synthesizer", "An instrument that makes sound electronically."),
    ):
        links = [_Link(f"{WIKI}/wiki/Printed_circuit_board", "circuit boards")]
        if article in ("Weather_station", "Synthesizer"):
            kit = "weather-station-kit" if article == "Weather_station" else "synth-kit"
            links.append(_Link(f"{SHOP}/kits/{kit}", "a kit from Tinkerbox"))
        wiki_pages.append(_Page(f"/wiki/{article}", article.replace("_", " "), text, links))
    wiki_pages[0].links.extend(_Link(f"{WIKI}{page.path}", page.title) for page in wiki_pages[4:])
    return _Site("openatlas-wiki.org", "OpenAtlas", wiki_pages, outbound_rel="nofollow")


def _forum() -> _Site:
    """A forum: members' links are ugc."""
    forum_threads: list[tuple[str, str, list[_Link]]] = [
        (
            "/t/first-kit",
            "Which kit should I start with?",
            [
                _Link(f"{SHOP}/kits/soldering-starter-kit", "the Tinkerbox starter kit"),
                _Link(f"{SHOP}/kits/led-matrix-kit", "LED matrix"),
            ],
        ),
        (
            "/t/radio-repair",
            "Fixing an old radio",
            [
                _Link(f"{HELP}/guides/radio-kit", "this guide helped me"),
                _Link(f"{WIKI}/wiki/Crystal_radio", "Crystal radio on OpenAtlas"),
            ],
        ),
        (
            "/t/synth-sounds",
            "Share your synth sounds",
            [
                _Link(f"{SHOP}/kits/synth-kit", "Pocket synth"),
                _Link("http://www.vidstream.com/watch/synth-demo", "my demo video"),
            ],
        ),
        (
            "/t/weather-logging",
            "Logging weather data",
            [_Link(f"{JONAS}/posts/weather-station", "Jonas's write-up")],
        ),
    ]
    for number, topic in enumerate(
        (
            "oscilloscopes",
            "desoldering",
            "3d-printing",
            "batteries",
            "breadboards",
            "microcontrollers",
            "enclosures",
            "wire-colours",
            "kits-for-kids",
            "workbench",
        )
    ):
        links = [_Link(f"{WIKI}/wiki/Soldering", "soldering basics")]
        if number % 3 == 0:
            links.append(_Link(f"{SHOP}/kits/{_PRODUCTS[number % 6][0]}", "got mine at Tinkerbox"))
        if number % 4 == 1:
            links.append(_Link(f"{MARA}/posts/tools", "Mara's tool list"))
        forum_threads.append((f"/t/{topic}", topic.replace("-", " ").capitalize(), links))
    forum_pages = [
        _Page(
            "/",
            "Maker Forum",
            "Talk about what you build.",
            [_Link(f"http://maker-forum.net{path}", title) for path, title, _ in forum_threads],
        ),
    ] + [
        _Page(
            path,
            title,
            "Posts from members.",
            [
                _Link(link.url, link.anchor, rel="ugc" if "maker-forum" not in link.url else "")
                for link in links
            ],
        )
        for path, title, links in forum_threads
    ]
    return _Site("maker-forum.net", "Maker Forum", forum_pages)


def _deals() -> _Site:
    """A deals site: sponsored links."""
    deals_pages = [
        _Page(
            "/",
            "DealHunter",
            "Today's best prices.",
            [
                _Link("http://www.dealhunter.com/deals/electronics", "Electronics deals"),
                _Link("http://www.dealhunter.com/deals/kitchen", "Kitchen deals"),
            ],
        ),
        _Page(
            "/deals/electronics",
            "Electronics deals",
            "Kits and gadgets on offer.",
            [
                _Link(
                    f"{SHOP}/kits/robot-arm-kit?utm_source=dealhunter",
                    "Robot arm kit, 20% off",
                    rel="sponsored nofollow",
                    target=f"{SHOP}/kits/robot-arm-kit",
                ),
                _Link(
                    f"{SHOP}/kits/synth-kit",
                    "Pocket synth kit deal",
                    rel="sponsored",
                    image_alt="Pocket synth kit - Tinkerbox",
                ),
            ],
        ),
        _Page(
            "/deals/kitchen",
            "Kitchen deals",
            "Pans and knives.",
            [_Link("http://greenleaf-recipes.com/", "Recipes to try", rel="sponsored")],
        ),
    ]
    return _Site("www.dealhunter.com", "DealHunter", deals_pages)


def _mara() -> _Site:
    """A developer's blog on github.io."""
    mara_posts: list[tuple[str, str, list[_Link]]] = [
        (
            "/posts/first-solder",
            "My first solder joint",
            [
                _Link(
                    f"{SHOP}/kits/soldering-starter-kit", "Tinkerbox", image_alt="Tinkerbox logo"
                ),
                _Link(f"{SHOP}/kits/soldering-starter-kit", "the starter kit I used"),
                _Link(f"{WIKI}/wiki/Soldering", "the OpenAtlas article"),
            ],
        ),
        (
            "/posts/led-matrix",
            "Scrolling text on an LED matrix",
            [
                _Link(f"{SHOP}/kits/led-matrix-kit", "Tinkerbox LED matrix kit"),
                _Link(f"{JONAS}/", "Jonas's blog"),
            ],
        ),
        (
            "/posts/tools",
            "The tools on my desk",
            [
                _Link("http://www.dealhunter.com/deals/electronics", "where I buy cheap"),
                _Link(f"{HELP}/", "Tinkerbox help pages"),
            ],
        ),
    ]
    for number, (slug, title) in enumerate(
        (
            ("rust-on-a-pico", "Rust on a tiny board"),
            ("debouncing", "Debouncing buttons"),
            ("i2c-notes", "Notes on I2C"),
            ("power-budget", "A power budget"),
            ("git-for-hardware", "Git for hardware projects"),
            ("year-in-review", "My year"),
        )
    ):
        links = [_Link(f"{MARA}/posts/first-solder", "my first solder joint")]
        if number % 2 == 0:
            links.append(_Link(f"{WIKI}/wiki/Microcontroller", "microcontrollers"))
        if slug == "year-in-review":
            links.append(_Link(f"{SHOP}/kits/synth-kit", "the synth kit I built in May"))
            links.append(_Link("http://chirper.social/@mara", "me on Chirper"))
        mara_posts.append((f"/posts/{slug}", title, links))
    mara_pages = [
        _Page(
            "/",
            "Mara codes",
            "Notes on code and circuits.",
            [_Link(f"{MARA}{path}", title) for path, title, _ in mara_posts],
        ),
    ] + [_Page(path, title, "A post.", links) for path, title, links in mara_posts]
    return _Site("mara-codes.github.io", "Mara codes", mara_pages)


def _jonas() -> _Site:
    """A maker's blog on github.io."""
    jonas_posts: list[tuple[str, str, list[_Link]]] = [
        (
            "/posts/weather-station",
            "Building a weather station",
            [
                _Link(f"{SHOP}/kits/weather-station-kit", "Tinkerbox weather station kit"),
                _Link(f"{NEWS}/2024/03/weather-at-home", "Harbor Daily wrote about it"),
            ],
        ),
        (
            "/posts/robot-arm",
            "A robot arm that pours tea",
            [
                _Link(f"{SHOP}/kits/robot-arm-kit", "robot arm kit"),
                _Link("http://www.vidstream.com/watch/tea-robot", "the video"),
            ],
        ),
    ]
    for slug, title in (
        ("garden-sensor", "A soil sensor for the garden"),
        ("bike-light", "Brighter bike lights"),
        ("clock", "A word clock"),
        ("doorbell", "The doorbell that tweets"),
        ("synth", "My pocket synth"),
    ):
        links = [_Link(f"{JONAS}/posts/weather-station", "the weather station")]
        if slug == "synth":
            links.append(_Link(f"{SHOP}/kits/synth-kit", "Tinkerbox pocket synth"))
            links.append(_Link("http://maker-forum.net/t/synth-sounds", "the forum thread"))
        if slug == "clock":
            links.append(_Link(f"{WIKI}/wiki/Light-emitting_diode", "LEDs"))
        jonas_posts.append((f"/posts/{slug}", title, links))
    jonas_pages = [
        _Page(
            "/",
            "Jonas builds",
            "Things I made.",
            [_Link(f"{JONAS}{path}", title) for path, title, _ in jonas_posts],
        ),
    ] + [_Page(path, title, "A build log.", links) for path, title, links in jonas_posts]
    return _Site("jonas-builds.github.io", "Jonas builds", jonas_pages)


def _recipes() -> _Site:
    """A recipe blog that never mentions the shop."""
    recipes = [
        ("/recipes/harbour-chowder", "Harbour chowder"),
        ("/recipes/sourdough", "Simple sourdough"),
        ("/recipes/lemon-cake", "Lemon cake"),
        ("/recipes/leek-soup", "Leek soup"),
        ("/recipes/bean-stew", "Bean stew"),
        ("/recipes/apple-crumble", "Apple crumble"),
        ("/recipes/green-curry", "Green curry"),
        ("/recipes/flatbread", "Flatbread"),
        ("/recipes/fish-pie", "Fish pie"),
    ]
    recipe_pages = [
        _Page(
            "/",
            "Greenleaf recipes",
            "Vegetables first.",
            [_Link(f"http://greenleaf-recipes.com{path}", title) for path, title in recipes],
        ),
    ] + [
        _Page(
            path,
            title,
            "Ingredients and method.",
            [_Link(f"{NEWS}/2024/02/harbour-festival", "as served at the harbour festival")],
        )
        for path, title in recipes
    ]
    return _Site("greenleaf-recipes.com", "Greenleaf", recipe_pages)


def _press() -> _Site:
    """A tech magazine: reviews."""
    press_reviews: list[tuple[str, str, list[_Link]]] = [
        (
            "/reviews/synth-kit",
            "Review: Tinkerbox Pocket Synth",
            [
                _Link(f"{SHOP}/kits/synth-kit", "Tinkerbox Pocket Synth"),
                _Link(f"{SHOP}/", "tinkerbox.co.uk"),
            ],
        ),
        (
            "/reviews/robot-arm",
            "Review: a robot arm for the desk",
            [
                _Link(f"{SHOP}/kits/robot-arm-kit", "Buy it from Tinkerbox"),
                _Link(f"{JONAS}/posts/robot-arm", "a reader's tea-pouring build"),
            ],
        ),
        (
            "/reviews/weather",
            "Five weather stations compared",
            [
                _Link(f"{SHOP}/kits/weather-station-kit", "Tinkerbox"),
                _Link(f"{NEWS}/2024/03/weather-at-home", "Harbor Daily's feature"),
            ],
        ),
    ]
    for slug, title in (
        ("phone-x", "Review: the X phone"),
        ("laptop-air", "Review: a light laptop"),
        ("earbuds", "Six earbuds tested"),
        ("e-reader", "Review: a paper-like e-reader"),
        ("smart-plug", "Smart plugs, dumb problems"),
        ("kits-roundup", "The best kits of the year"),
    ):
        links = [_Link("http://pixelpress.net/reviews/synth-kit", "our synth review")]
        if slug == "kits-roundup":
            links += [
                _Link(f"{SHOP}/kits/led-matrix-kit", "LED matrix kit"),
                _Link(f"{SHOP}/kits/radio-kit", "Crystal radio kit"),
                _Link("http://www.dealhunter.com/deals/electronics", "current deals"),
            ]
        press_reviews.append((f"/reviews/{slug}", title, links))
    press_pages = [
        _Page(
            "/",
            "PixelPress",
            "Gadget reviews.",
            [_Link(f"http://pixelpress.net{path}", title) for path, title, _ in press_reviews],
        ),
    ] + [_Page(path, title, "Our verdict.", links) for path, title, links in press_reviews]
    return _Site("pixelpress.net", "PixelPress", press_pages)


def _sites() -> list[_Site]:
    return [
        *_tinkerbox(),
        _news(),
        _wiki(),
        _forum(),
        _deals(),
        _mara(),
        _jonas(),
        _recipes(),
        _press(),
    ]


def build_demo_web() -> SyntheticWeb:
    """The demo web (no randomness: the same every time)."""
    web = SyntheticWeb(domains=dict(DEMO_DOMAINS), seeds=DEMO_SEEDS, seed_urls=_DEMO_SEED_URLS)
    for site in _sites():
        if site.robots is not None:
            web.robots[site.host] = site.robots
        for builder in _render(site):
            web.add(builder.resource())
    check_domains(web)
    return web
