"""The test web's hosts, seeds and hand-written pages (:mod:`~tests.synthweb.testweb`).

Every host is declared here with its registered domain (:data:`TEST_DOMAINS`),
by hand; :func:`add_sites` adds each seed site's crafted pages, every link
spelled out with its expected normalized target, and the out-of-scope pages a
straying crawler would reach. Nothing here imports ``linkcore.urls``.
"""

from __future__ import annotations

from typing import Final

from linkgraph.demo.model import (
    DROPPED,
    HTML_UTF8,
    ExpectedLink,
    PageBuilder,
    RobotsRules,
    SyntheticWeb,
    plain,
    redirect,
)

__all__ = [
    "BUCHER_UNICODE",
    "TEST_DOMAINS",
    "TEST_SEEDS",
    "TEST_SEED_URLS",
    "add_sites",
    "u",
]

# -- hosts ---------------------------------------------------------------------
ALPHA: Final = "alpha-shop.com"
WWW_ALPHA: Final = "www.alpha-shop.com"
BLOG_ALPHA: Final = "blog.alpha-shop.com"
STATIC_ALPHA: Final = "static.alpha-shop.com"
BRAMBLE: Final = "shop.bramble-goods.co.uk"
BRAMBLE_APEX: Final = "bramble-goods.co.uk"
ALICE: Final = "alice-x.github.io"
BOB: Final = "bob-y.github.io"
#: ``bücher-test.de`` as users write it; :data:`BUCHER` is its punycode form.
BUCHER_UNICODE: Final = "bücher-test.de"
BUCHER: Final = "xn--bcher-test-9db.de"
QUILL: Final = "quill-notes.org"
WWW_QUILL: Final = "www.quill-notes.org"
FERROUS: Final = "ferrous-data.net"
DOCS_FERROUS: Final = "docs.ferrous-data.net"
OUTSIDE: Final = "outside-news.com"
WWW_OUTSIDE: Final = "www.outside-news.com"
PARTNER: Final = "partner-mart.co.uk"
ELSEWHERE: Final = "elsewhere.org"
NOTALPHA: Final = "notalpha-shop.com"
EVIL: Final = "alpha-shop.com.evil-mirror.net"
WIDE: Final = "wide-web.net"
IP_HOST: Final = "192.0.2.10"
INTRANET: Final = "intranet"

#: Every host of the test web and its registered domain (PSL, private section
#: included), declared by hand.
TEST_DOMAINS: Final[dict[str, str]] = {
    ALPHA: "alpha-shop.com",
    WWW_ALPHA: "alpha-shop.com",
    BLOG_ALPHA: "alpha-shop.com",
    STATIC_ALPHA: "alpha-shop.com",
    BRAMBLE: "bramble-goods.co.uk",
    BRAMBLE_APEX: "bramble-goods.co.uk",
    ALICE: "alice-x.github.io",
    BOB: "bob-y.github.io",
    BUCHER: "xn--bcher-test-9db.de",
    QUILL: "quill-notes.org",
    WWW_QUILL: "quill-notes.org",
    FERROUS: "ferrous-data.net",
    DOCS_FERROUS: "ferrous-data.net",
    OUTSIDE: "outside-news.com",
    WWW_OUTSIDE: "outside-news.com",
    PARTNER: "partner-mart.co.uk",
    ELSEWHERE: "elsewhere.org",
    NOTALPHA: "notalpha-shop.com",
    EVIL: "evil-mirror.net",
    WIDE: "wide-web.net",
    IP_HOST: "192.0.2.10",
    INTRANET: "intranet",
}

#: The seeds file lines: bare domains (one international) and URLs.
TEST_SEEDS: Final = (
    "alpha-shop.com",
    "http://shop.bramble-goods.co.uk/",
    BUCHER_UNICODE,
    "http://alice-x.github.io/",
    "quill-notes.org",
    "http://ferrous-data.net/",
)
#: :data:`TEST_SEEDS` normalized, in the same order.
TEST_SEED_URLS: Final = (
    "http://alpha-shop.com/",
    "http://shop.bramble-goods.co.uk/",
    "http://xn--bcher-test-9db.de/",
    "http://alice-x.github.io/",
    "http://quill-notes.org/",
    "http://ferrous-data.net/",
)


def u(host: str, path: str = "/") -> str:
    """``http://HOST/PATH``: the normal form of the simple URLs used here."""
    return f"http://{host}{path}"


def _long_anchor() -> tuple[str, str]:
    """Anchor markup of ~1000 characters and its expected 512-character cut."""
    words = [f"chaîne{i:03d}" for i in range(100)]
    # Runs of spaces, newlines and tabs between the words: the anchor collapses them.
    separators = ("  ", "\n\t", " \n ")
    markup = "".join(word + separators[i % 3] for i, word in enumerate(words))
    expected = " ".join(words)[:512]
    if expected != expected.strip():
        raise AssertionError("the long anchor must not be cut at a space")
    return markup, expected


def _alpha(web: SyntheticWeb) -> None:
    """alpha-shop.com: apex redirect to www, the shop, its blog; most link edge cases."""
    web.add(
        redirect(
            u(ALPHA),
            301,
            "http://www.alpha-shop.com/",
            u(WWW_ALPHA),
            body='<html><body><a href="/trap/in-redirect-body">Moved</a></body></html>',
        )
    )
    web.traps.add(u(ALPHA, "/trap/in-redirect-body"))

    legacy = PageBuilder(u(ALPHA, "/legacy"), "Legacy shop")
    legacy.a("http://www.alpha-shop.com/", "New shop", u(WWW_ALPHA))
    legacy.a("/legacy#top", "Top", u(ALPHA, "/legacy"))
    web.add(legacy.resource())

    web.robots[WWW_ALPHA] = RobotsRules(
        (("*", ("/product/4",)), ("linkgraph", ("/cart", "/account/")))
    )
    home = PageBuilder(u(WWW_ALPHA), "Alpha Shop")
    home.head(
        '<link rel="canonical" href="http://www.alpha-shop.com/">',
        ExpectedLink(u(WWW_ALPHA), "canonical"),
    )
    home.head('<link rel="stylesheet" href="/style.css">')
    home.head('<link rel="alternate" hreflang="fr" href="/fr">')
    home.a("/product/1", "Product one", u(WWW_ALPHA, "/product/1"))
    home.a("product/2", "Product two", u(WWW_ALPHA, "/product/2"))
    home.a("//www.alpha-shop.com/product/3", "Product three", u(WWW_ALPHA, "/product/3"))
    home.a("/catalog?utm_source=home&utm_medium=nav", "Catalog", u(WWW_ALPHA, "/catalog"))
    home.a("HTTP://WWW.ALPHA-SHOP.COM/Catalog", "Catalog, capital C", u(WWW_ALPHA, "/Catalog"))
    home.a("http://www.alpha-shop.com:80/about", "About us", u(WWW_ALPHA, "/about"))
    home.a("http://www.alpha-shop.com./contact", "Contact", u(WWW_ALPHA, "/contact"))
    home.a("/cart", "Cart", u(WWW_ALPHA, "/cart"))
    home.a("/account/login?next=%2Fcart", "Sign in", u(WWW_ALPHA, "/account/login?next=%2Fcart"))
    home.a("http://ALPHA-SHOP.COM/legacy", "Old shop", u(ALPHA, "/legacy"))
    home.a("http://blog.alpha-shop.com/", "Our blog", u(BLOG_ALPHA))
    home.a("http://static.alpha-shop.com/missing", "Missing", u(STATIC_ALPHA, "/missing"))
    home.a("/search?q=lamp&page=2", "Lamps, page 2", u(WWW_ALPHA, "/search?q=lamp&page=2"))
    home.a("/search?page=2&q=lamp", "Lamps, page 2 again", u(WWW_ALPHA, "/search?page=2&q=lamp"))
    home.a("/About", "About, capital A", u(WWW_ALPHA, "/About"))
    home.a("/fr", "Français", u(WWW_ALPHA, "/fr"))
    home.a("/files/catalogue.pdf", "Catalogue (PDF)", u(WWW_ALPHA, "/files/catalogue.pdf"))
    home.body(
        '<a href="/img/logo.png"><img src="/img/logo.png" alt="Alpha Shop logo"></a>',
        ExpectedLink(u(WWW_ALPHA, "/img/logo.png"), anchor="Alpha Shop logo", image=True),
    )
    home.a("/notes.txt", "Shop notes", u(WWW_ALPHA, "/notes.txt"))
    for path, text in (
        ("/nofollow-meta", "Meta nofollow"),
        ("/none-meta", "Meta none"),
        ("/xrobots", "Header nofollow"),
        ("/xrobots-none", "Header none"),
        ("/googlebot-meta", "Googlebot meta"),
        ("/noindex-only", "Noindex only"),
        ("/two-metas", "Two robots metas"),
    ):
        home.a(path, text, u(WWW_ALPHA, path))
    home.a(
        "https://outside-news.com/review/alpha?utm_campaign=spring&ref=alpha#comments",
        "As seen in Outside News",
        f"https://{OUTSIDE}/review/alpha?ref=alpha",
        rel="sponsored nofollow",
        nofollow=True,
        sponsored=True,
    )
    home.a("http://notalpha-shop.com/", "Not us", u(NOTALPHA))
    home.a("http://alpha-shop.com.evil-mirror.net/", "A mirror", u(EVIL))
    home.a(
        "http://partner-mart.co.uk/deals",
        "Partner deals",
        u(PARTNER, "/deals"),
        rel="UGC",
        ugc=True,
    )
    home.a("http://bücher-test.de/buch/1", "Bücher", u(BUCHER, "/buch/1"))
    home.a("http://192.0.2.10/status", "Status", u(IP_HOST, "/status"))
    home.a("http://intranet/wiki", "Wiki", u(INTRANET, "/wiki"))
    # Markup that holds no link: a comment, script and textarea text.
    home.body('<!-- <a href="/trap/in-comment">old link</a> -->')
    home.body("<script>var s = '<a href=\"/trap/in-script\">x</a>';</script>")
    home.body('<textarea><a href="/trap/in-textarea">x</a></textarea>')
    web.traps.update(
        u(WWW_ALPHA, f"/trap/in-{where}") for where in ("comment", "script", "textarea")
    )
    web.add(home.resource())

    catalog = PageBuilder(u(WWW_ALPHA, "/catalog"), "Catalog")
    catalog.head(
        '<link rel="canonical" href="/catalog?utm_source=feed#top">',
        ExpectedLink(u(WWW_ALPHA, "/catalog"), "canonical"),
    )

    def p(number: int) -> str:
        return u(WWW_ALPHA, f"/product/{number}")

    # /product/5 four times: first occurrence wins, link_count 4.
    catalog.a("/product/5", "Red lamp", p(5))
    catalog.a("/product/5#reviews", "Reviews", p(5), rel="nofollow", nofollow=True)
    catalog.a("http://www.alpha-shop.com/product/5?utm_source=x", "lamp again", p(5))
    catalog.a("http://WWW.Alpha-Shop.com/product/5", "Case host", p(5), rel="ugc", ugc=True)
    catalog.body(
        '<a href="/product/6"><img src="/img/p6.png" alt="  Blue \n  chair "></a>',
        ExpectedLink(p(6), anchor="Blue chair", image=True),
    )
    catalog.a("/product/6", "Blue chair text", p(6), rel="sponsored", sponsored=True)
    catalog.body(
        '<a href="/product/7"><img src="/img/p7.png" alt=""></a>',
        ExpectedLink(p(7), anchor="", image=True),
    )
    catalog.body(
        '<a href="/product/8"> <img src="/img/p8.png"> </a>',
        ExpectedLink(p(8), anchor="", image=True),
    )
    catalog.body(
        '<a href="/product/9"><img alt="First"><img alt="Second"></a>',
        ExpectedLink(p(9), anchor="First", image=True),
    )
    catalog.body(
        '<a href="/product/10"><img alt="Ignored alt"> Visible text</a>',
        ExpectedLink(p(10), anchor="Visible text"),
    )
    catalog.body('<a href="/product/11"></a>', ExpectedLink(p(11)))
    catalog.a("/product/11", "Later text", p(11))
    catalog.body(
        '<a href="/product/12"><b>Big</b>&nbsp;<i>deal</i>\n   on  <span>desks</span></a>',
        ExpectedLink(p(12), anchor="Big deal on desks"),
    )
    catalog.body(
        '<a href="/product/13">Tom &amp; Jerry&#39;s&emsp;mugs<!-- hidden --></a>',
        ExpectedLink(p(13), anchor="Tom & Jerry's mugs"),
    )
    catalog.body(
        '<map name="m"><area shape="rect" coords="0,0,10,10" href="/product/14" alt="Area alt">'
        '<area shape="rect" coords="0,0,1,1" alt="No href"></map>',
        ExpectedLink(p(14)),
    )
    catalog.body(
        '<map name="m2"><area shape="rect" coords="0,0,5,5" href="/product/38" rel="nofollow ugc"'
        ' alt="Area with rel"></map>',
        ExpectedLink(p(38), nofollow=True, ugc=True),
    )
    catalog.a("/product/15", "Customer photos", p(15), rel="noopener,ugc", ugc=True)
    catalog.a("/product/16", "Loud rel", p(16), rel="  NoFollow  UGC ", nofollow=True, ugc=True)
    catalog.a("/product/17", "Not a token", p(17), rel="nofollowx external")
    catalog.a("/product/18", "Sponsored pick", p(18), rel="Sponsored", sponsored=True)
    # Hrefs that give no http(s) URL: dropped.
    # Self links: their target is the source, so no edge.
    this = u(WWW_ALPHA, "/catalog")
    catalog.body('<a href="#top">Top</a>', ExpectedLink(this, anchor="Top"))
    catalog.body('<a href="">Reload</a>', ExpectedLink(this, anchor="Reload"))
    catalog.body('<a href="?utm_source=self">Self</a>', ExpectedLink(this, anchor="Self"))
    for href in (
        "mailto:sales@alpha-shop.com",
        "javascript:void(0)",
        "  JavaScript:alert(1)",
        "tel:+441234567",
        "data:text/html,hello",
        "ftp://alpha-shop.com/pub",
        "http://",
        "http://bad host.example/",
        "http://[::1",
    ):
        catalog.body(f'<a href="{href}">Not a web link</a>', DROPPED)
    catalog.body('<a>No href</a> <a name="named">Named</a>')
    long_markup, long_expected = _long_anchor()
    catalog.body(
        f'<a href="/product/19">{long_markup}</a>', ExpectedLink(p(19), anchor=long_expected)
    )
    catalog.a(
        "/product/20?Color=Red&utmost=1&gclid2=k&UTM_Source=a&FBCLID=zz&gclid&_hsenc=q&mc_cid=1",
        "Tracking mix",
        u(WWW_ALPHA, "/product/20?Color=Red&utmost=1&gclid2=k"),
    )
    catalog.a("/product/21?utm_source=a&id=1", "Tracked first", u(WWW_ALPHA, "/product/21?id=1"))
    catalog.a("/product/21?id=1&utm_medium=b", "Tracked second", u(WWW_ALPHA, "/product/21?id=1"))
    catalog.body(
        '<a href=" /product/22 ">Spaced href</a>', ExpectedLink(p(22), anchor="Spaced href")
    )
    catalog.body(
        '<a href="/prod\nuct/23">Newline in href</a>', ExpectedLink(p(23), anchor="Newline in href")
    )
    catalog.body(
        '<a href="\\product\\24">Backslashes</a>', ExpectedLink(p(24), anchor="Backslashes")
    )
    catalog.a("/a/b/../../product/27", "Dot segments", p(27))
    catalog.a("/product/%2e%2e/product/28", "Encoded dot segments", p(28))
    catalog.body(
        '<A HREF="/product/33">Upper-case tag</A>', ExpectedLink(p(33), anchor="Upper-case tag")
    )
    catalog.body("<a href=/product/34>Unquoted</a>", ExpectedLink(p(34), anchor="Unquoted"))
    catalog.body(
        "<a href='/product/35'>Single quotes</a>", ExpectedLink(p(35), anchor="Single quotes")
    )
    catalog.body(
        '<a href="/product/36?a=1&amp;b=2">Entity in href</a>',
        ExpectedLink(u(WWW_ALPHA, "/product/36?a=1&b=2"), anchor="Entity in href"),
    )
    catalog.a("http://www.alpha-shop.com/", "Home", u(WWW_ALPHA))
    catalog.a("/", "Home again", u(WWW_ALPHA))
    web.add(catalog.resource())

    for path, title in (
        ("/Catalog", "Catalog (capital)"),
        ("/about", "About"),
        ("/About", "About (capital)"),
        ("/contact", "Contact"),
    ):
        page = PageBuilder(u(WWW_ALPHA, path), title)
        page.a("/", "Alpha Shop", u(WWW_ALPHA))
        page.a("/catalog", "Catalog", u(WWW_ALPHA, "/catalog"))
        web.add(page.resource())

    for path in ("/search?q=lamp&page=2", "/search?page=2&q=lamp"):
        page = PageBuilder(u(WWW_ALPHA, path), "Search")
        page.head(
            '<link rel="canonical" href="/search?q=lamp&amp;page=2">',
            ExpectedLink(u(WWW_ALPHA, "/search?q=lamp&page=2"), "canonical"),
        )
        page.a("/product/2", f"Lamp ({path})", p(2))
        web.add(page.resource())

    cart = PageBuilder(u(WWW_ALPHA, "/cart"), "Cart")
    cart.a("/trap/from-cart", "Checkout", u(WWW_ALPHA, "/trap/from-cart"))
    web.add(cart.resource())
    web.add(PageBuilder(u(WWW_ALPHA, "/account/login?next=%2Fcart"), "Sign in").resource())
    web.traps.update({u(WWW_ALPHA, "/trap/from-cart")})

    french = PageBuilder(u(WWW_ALPHA, "/fr"), "Boutique française")
    french.a("/product/3", "Café crème", p(3))
    french.a("/product/4", "Théière", p(4))
    web.add(french.resource(charset="iso-8859-1"))

    web.add(
        plain(
            u(WWW_ALPHA, "/files/catalogue.pdf"),
            200,
            "application/pdf",
            b'%PDF-1.4\n% <a href="/trap/in-pdf">x</a>\n%%EOF\n',
        )
    )
    web.add(
        plain(
            u(WWW_ALPHA, "/img/logo.png"), 200, "image/png", b"\x89PNG\r\n\x1a\n" + bytes(range(64))
        )
    )
    web.add(
        plain(
            u(WWW_ALPHA, "/notes.txt"),
            200,
            "text/plain; charset=utf-8",
            b'Not HTML: <a href="/trap/in-text-plain">x</a>\n',
        )
    )
    web.traps.update({u(WWW_ALPHA, "/trap/in-pdf"), u(WWW_ALPHA, "/trap/in-text-plain")})

    nofollow = PageBuilder(u(WWW_ALPHA, "/nofollow-meta"), "Meta nofollow")
    nofollow.head('<meta name="robots" content="noindex, NOFOLLOW">')
    nofollow.head(
        '<link rel="canonical" href="/nofollow-meta?utm_source=c">',
        ExpectedLink(u(WWW_ALPHA, "/nofollow-meta"), "canonical"),
    )
    nofollow.a(
        "/product/30?from=nofollow", "Only from here", u(WWW_ALPHA, "/product/30?from=nofollow")
    )
    nofollow.a("/product/1", "Product one", p(1), rel="ugc", ugc=True)
    nofollow.a("http://outside-news.com/", "News", u(OUTSIDE))
    web.add(nofollow.resource(robots_nofollow=True))

    none = PageBuilder(u(WWW_ALPHA, "/none-meta"), "Meta none")
    none.head('<meta name="ROBOTS" content="none">')
    none.a(
        "/trap/none-only",
        "Only from here",
        u(WWW_ALPHA, "/trap/none-only"),
        rel="sponsored",
        sponsored=True,
    )
    web.add(none.resource(robots_nofollow=True))

    xrobots = PageBuilder(u(WWW_ALPHA, "/xrobots"), "Header nofollow")
    xrobots.head(
        '<link rel="canonical" href="http://outside-news.com/xr">',
        ExpectedLink(u(OUTSIDE, "/xr"), "canonical"),
    )
    xrobots.a("/trap/xrobots-only", "Only from here", u(WWW_ALPHA, "/trap/xrobots-only"))
    xrobots.a("/catalog", "Catalog", u(WWW_ALPHA, "/catalog"))
    web.add(xrobots.resource(headers=[("X-Robots-Tag", "noindex, nofollow")], robots_nofollow=True))

    xnone = PageBuilder(u(WWW_ALPHA, "/xrobots-none"), "Header none")
    xnone.a("/trap/xrobots-none-only", "Only from here", u(WWW_ALPHA, "/trap/xrobots-none-only"))
    web.add(xnone.resource(headers=[("X-Robots-Tag", "none")], robots_nofollow=True))
    web.traps.update(
        u(WWW_ALPHA, path)
        for path in (
            "/product/30?from=nofollow",
            "/trap/none-only",
            "/trap/xrobots-only",
            "/trap/xrobots-none-only",
        )
    )

    two_metas = PageBuilder(u(WWW_ALPHA, "/two-metas"), "Two robots metas")
    two_metas.head('<meta name="robots" content="index">')
    two_metas.head('<meta name="robots" content="nofollow">')
    two_metas.a("/trap/two-metas-only", "Only from here", u(WWW_ALPHA, "/trap/two-metas-only"))
    web.add(two_metas.resource(robots_nofollow=True))
    web.traps.add(u(WWW_ALPHA, "/trap/two-metas-only"))

    googlebot = PageBuilder(u(WWW_ALPHA, "/googlebot-meta"), "Googlebot meta")
    googlebot.head('<meta name="googlebot" content="nofollow">')
    googlebot.a(
        "/product/31?from=googlebot", "Followed", u(WWW_ALPHA, "/product/31?from=googlebot")
    )
    web.add(googlebot.resource())

    noindex = PageBuilder(u(WWW_ALPHA, "/noindex-only"), "Noindex only")
    noindex.head('<meta name="robots" content="noindex">')
    noindex.a("/product/32?from=noindex", "Followed", u(WWW_ALPHA, "/product/32?from=noindex"))
    web.add(noindex.resource())

    web.robots[BLOG_ALPHA] = RobotsRules((("otherbot", ("/",)),))
    blog = PageBuilder(u(BLOG_ALPHA), "Alpha blog")
    blog.a("/entry/1", "First entry", u(BLOG_ALPHA, "/entry/1"))
    blog.a("/entry/2", "Second entry", u(BLOG_ALPHA, "/entry/2"))
    blog.a("/base-absolute", "Base, absolute", u(BLOG_ALPHA, "/base-absolute"))
    blog.a("/base-relative", "Base, relative", u(BLOG_ALPHA, "/base-relative"))
    blog.a("http://www.alpha-shop.com/", "The shop", u(WWW_ALPHA))
    web.add(blog.resource())

    absolute = PageBuilder(u(BLOG_ALPHA, "/base-absolute"), "Base, absolute")
    absolute.head('<base target="_blank">')
    absolute.head('<base href="http://www.alpha-shop.com/catalog/">')
    absolute.head('<base href="http://elsewhere.org/">')
    absolute.head(
        '<link rel="canonical" href="../about">', ExpectedLink(u(WWW_ALPHA, "/about"), "canonical")
    )
    absolute.a("item-1", "Item one", u(WWW_ALPHA, "/catalog/item-1"))
    absolute.a("../about", "About the shop", u(WWW_ALPHA, "/about"))
    absolute.a("/entry/3", "Entry three", u(WWW_ALPHA, "/entry/3"))
    absolute.a(
        "http://blog.alpha-shop.com/entry/3", "Entry three, absolute", u(BLOG_ALPHA, "/entry/3")
    )
    web.add(absolute.resource())

    relative = PageBuilder(u(BLOG_ALPHA, "/base-relative"), "Base, relative")
    relative.head('<base href="/entry/">')
    relative.a("4", "Entry four", u(BLOG_ALPHA, "/entry/4"))
    relative.a("#frag", "Base with a fragment", u(BLOG_ALPHA, "/entry/"))
    relative.a("?page=2", "Base with a query", u(BLOG_ALPHA, "/entry/?page=2"))
    web.add(relative.resource())


def _bramble(web: SyntheticWeb) -> None:
    """shop.bramble-goods.co.uk: a co.uk shop whose robots.txt names LinkGraph."""
    web.robots[BRAMBLE] = RobotsRules((("LinkGraph", ("/checkout",)),))
    home = PageBuilder(u(BRAMBLE), "Bramble Goods")
    home.a("/item/1", "Jam jars", u(BRAMBLE, "/item/1"))
    home.a("item/2", "Tea towels", u(BRAMBLE, "/item/2"))
    home.a("/checkout/basket", "Basket", u(BRAMBLE, "/checkout/basket"))
    home.a("http://bramble-goods.co.uk/", "Company", u(BRAMBLE_APEX))
    home.a("http://partner-mart.co.uk/", "Our partner", u(PARTNER), rel="sponsored", sponsored=True)
    home.a("http://www.alpha-shop.com/product/2", "Alpha lamps", u(WWW_ALPHA, "/product/2"))
    home.a("http://alpha-shop.com/legacy?utm_source=bramble", "Old Alpha", u(ALPHA, "/legacy"))
    home.a("https://outside-news.com/story/7", "In the news", f"https://{OUTSIDE}/story/7")
    web.add(home.resource())
    web.add(PageBuilder(u(BRAMBLE, "/checkout/basket"), "Basket").resource())

    apex = PageBuilder(u(BRAMBLE_APEX), "Bramble Goods Ltd")
    apex.a("http://shop.bramble-goods.co.uk/", "The shop", u(BRAMBLE))
    apex.a("http://www.alpha-shop.com/", "Friends", u(WWW_ALPHA), rel="nofollow", nofollow=True)
    web.add(apex.resource())


def _alice(web: SyntheticWeb) -> None:
    """alice-x.github.io: a blog next to bob-y.github.io, another registered domain."""
    web.robots[ALICE] = RobotsRules((("*", ()),))
    home = PageBuilder(u(ALICE), "Alice writes")
    home.a("/posts/1", "Hello world", u(ALICE, "/posts/1"))
    home.a("posts/2", "Second post", u(ALICE, "/posts/2"))
    home.a("http://bob-y.github.io/", "Bob's blog", u(BOB))
    home.a(
        "http://bob-y.github.io/posts/1",
        "Bob's first post",
        u(BOB, "/posts/1"),
        rel="ugc",
        ugc=True,
    )
    home.a("https://elsewhere.org/", "Elsewhere", f"https://{ELSEWHERE}/")
    home.a("http://www.alpha-shop.com/product/9", "The lamp I bought", u(WWW_ALPHA, "/product/9"))
    home.a("http://blog.alpha-shop.com/entry/2", "Alpha's blog", u(BLOG_ALPHA, "/entry/2"))
    web.add(home.resource())

    bob = PageBuilder(u(BOB), "Bob's blog")
    bob.a("/secret", "Bob's secret", u(BOB, "/secret"))
    bob.a("http://alice-x.github.io/", "Alice", u(ALICE))
    web.add(bob.resource())
    web.traps.add(u(BOB, "/secret"))


def _bucher(web: SyntheticWeb) -> None:
    """bücher-test.de: an international domain name, seeded in Unicode."""
    home = PageBuilder(u(BUCHER), "Bücher")
    home.a("/buch/1", "Erstes Buch", u(BUCHER, "/buch/1"))
    home.a("http://BÜCHER-TEST.DE/buch/2", "Zweites Buch", u(BUCHER, "/buch/2"))
    home.a("http://xn--bcher-test-9db.de/buch/3", "Drittes Buch", u(BUCHER, "/buch/3"))
    home.a("/über-uns", "Über uns", u(BUCHER, "/%C3%BCber-uns"))
    home.a("/suche?q=rote lampe", "Suche", u(BUCHER, "/suche?q=rote%20lampe"))
    home.a("http://www.alpha-shop.com/fr", "Französisch", u(WWW_ALPHA, "/fr"))
    home.a("/impressum", "Impressum", u(BUCHER, "/impressum"))
    web.add(home.resource())
    # No charset in the header: the meta tag's utf-8 decides (HTML's sniffing rules).
    imprint = PageBuilder(u(BUCHER, "/impressum"), "Impressum")
    imprint.a("/buch/4", "Grüße an alle Bücherfreunde", u(BUCHER, "/buch/4"))
    web.add(imprint.resource(content_type="text/html"))
    about = PageBuilder(u(BUCHER, "/%C3%BCber-uns"), "Über uns")
    about.a("/", "Start", u(BUCHER))
    about.a("http://quill-notes.org/notes/3", "Notizen", u(QUILL, "/notes/3"))
    web.add(about.resource())


def _quill(web: SyntheticWeb) -> None:
    """quill-notes.org: robots.txt groups that must not be merged; href spellings."""
    web.robots[QUILL] = RobotsRules(
        (("*", ("/private/",)), ("linkgraph", ("/drafts/", "/notes/secret")))
    )
    home = PageBuilder(u(QUILL), "Quill notes")
    home.a("/notes/1", "Note one", u(QUILL, "/notes/1"))
    home.a("http://Quill-Notes.org/notes/1#intro", "Note one again", u(QUILL, "/notes/1"))
    home.a("/private/diary", "Diary (only * may not read it)", u(QUILL, "/private/diary"))
    home.a("/drafts/next", "Next draft", u(QUILL, "/drafts/next"))
    home.a("/notes/secret-plan", "Secret plan", u(QUILL, "/notes/secret-plan"))
    home.a("/spelling", "Href spellings", u(QUILL, "/spelling"))
    home.a("http://www.quill-notes.org/", "With www", u(WWW_QUILL))
    home.a("http://blog.alpha-shop.com/entry/2", "A shop's blog", u(BLOG_ALPHA, "/entry/2"))
    home.a("http://alpha-shop.com/legacy", "The old Alpha", u(ALPHA, "/legacy"))
    home.a(
        "http://www.alpha-shop.com/product/10",
        "Desk",
        u(WWW_ALPHA, "/product/10"),
        rel="nofollow",
        nofollow=True,
    )
    web.add(home.resource())

    diary = PageBuilder(u(QUILL, "/private/diary"), "Diary")
    diary.a("/notes/2", "Note two", u(QUILL, "/notes/2"))
    web.add(diary.resource())
    web.add(PageBuilder(u(QUILL, "/drafts/next"), "Draft").resource())
    web.add(PageBuilder(u(QUILL, "/notes/secret-plan"), "Secret").resource())

    spelling = PageBuilder(u(QUILL, "/spelling"), "Href spellings")
    spelling.body(
        '<a href="  http://quill-notes.org/notes/4 ">Spaces around</a>',
        ExpectedLink(u(QUILL, "/notes/4"), anchor="Spaces around"),
    )
    spelling.body(
        '<a href="\n\t/notes/5\n">Newlines around</a>',
        ExpectedLink(u(QUILL, "/notes/5"), anchor="Newlines around"),
    )
    spelling.body(
        '<a href="http:\\\\quill-notes.org\\notes\\6">Backslashes</a>',
        ExpectedLink(u(QUILL, "/notes/6"), anchor="Backslashes"),
    )
    spelling.a("//quill-notes.org/notes/7", "Protocol-relative", u(QUILL, "/notes/7"))
    spelling.a("notes/../notes/8", "Dot segments", u(QUILL, "/notes/8"))
    spelling.a("HTTP://QUILL-NOTES.ORG./notes/9?utm_term=x#end", "Shouting", u(QUILL, "/notes/9"))
    spelling.a("http://quill-notes.org:80/notes/10", "Port 80", u(QUILL, "/notes/10"))
    spelling.a("https://outside-news.com:443/opinion", "Port 443", f"https://{OUTSIDE}/opinion")
    spelling.a("http://Outside-News.com./World/", "Dot and case", u(OUTSIDE, "/World/"))
    spelling.a(
        "https://www.outside-news.com/?utm_source=quill", "Bare tracking", f"https://{WWW_OUTSIDE}/"
    )
    web.add(spelling.resource())


def _ferrous(web: SyntheticWeb) -> None:
    """ferrous-data.net: redirects of every kind, error pages, robots.txt for ``*``."""
    web.robots[FERROUS] = RobotsRules((("*", ("/admin",)),))

    def f(path: str) -> str:
        return u(FERROUS, path)

    home = PageBuilder(f("/"), "Ferrous data")
    home.a("/docs/1", "Docs", f("/docs/1"))
    home.a("/chain/1", "Chain of three", f("/chain/1"))
    home.a("/go/partner", "Partner", f("/go/partner"))
    home.a("/go/admin", "Admin via redirect", f("/go/admin"))
    home.a("/admin/panel", "Admin", f("/admin/panel"))
    home.a("/administer", "Administer", f("/administer"))
    home.a("/old-home", "Old home", f("/old-home"))
    home.a("/moved", "Moved (relative Location)", f("/moved"))
    home.a("/no-location", "A 302 without Location", f("/no-location"))
    home.a("/loop/a", "Loop", f("/loop/a"))
    home.a("/go/shout", "Shouting Location", f("/go/shout"))
    home.a("/go/see-other", "See other", f("/go/see-other"))
    home.a("/go/alpha", "Alpha catalog", f("/go/alpha"))
    home.a("/go/bucher", "Books", f("/go/bucher"))
    home.a("/gone", "Gone", f("/gone"))
    home.a("/broken", "Broken", f("/broken"))
    home.a("http://docs.ferrous-data.net/", "Docs host", u(DOCS_FERROUS))
    home.a("http://www.alpha-shop.com/catalog", "Shop catalog", u(WWW_ALPHA, "/catalog"))
    home.a(
        "http://www.alpha-shop.com/product/41",
        "A product",
        u(WWW_ALPHA, "/product/41"),
        rel="sponsored",
        sponsored=True,
    )
    web.add(home.resource())

    web.add(
        redirect(
            f("/chain/1"),
            301,
            "http://ferrous-data.net/chain/2",
            f("/chain/2"),
            body='<html><body><a href="/trap/in-301-body">x</a></body></html>',
        )
    )
    web.add(redirect(f("/chain/2"), 302, "/chain/3", f("/chain/3")))
    web.add(redirect(f("/chain/3"), 307, "http://ferrous-data.net/chain/end", f("/chain/end")))
    end = PageBuilder(f("/chain/end"), "End of the chain")
    end.a("../docs/2", "Docs two", f("/docs/2"))
    web.add(end.resource())
    web.add(
        redirect(
            f("/go/partner"),
            308,
            "https://outside-news.com/story?utm_campaign=x&id=9",
            f"https://{OUTSIDE}/story?id=9",
        )
    )
    web.add(redirect(f("/go/admin"), 302, "/admin/panel", f("/admin/panel")))
    web.add(PageBuilder(f("/admin/panel"), "Admin").resource())
    web.add(redirect(f("/old-home"), 301, "http://ferrous-data.net/", f("/")))
    web.add(redirect(f("/moved"), 302, "moved-here?utm_source=r#x", f("/moved-here")))
    here = PageBuilder(f("/moved-here"), "Moved here")
    here.a("/docs/3", "Docs three", f("/docs/3"))
    web.add(here.resource())
    web.add(redirect(f("/no-location"), 302, None, None))
    web.add(
        redirect(f("/go/shout"), 301, "HTTP://Ferrous-Data.NET./docs/4?utm_source=x", f("/docs/4"))
    )
    web.add(redirect(f("/go/see-other"), 303, "/docs/5#top", f("/docs/5")))
    web.add(redirect(f("/loop/a"), 302, "/loop/b", f("/loop/b")))
    web.add(redirect(f("/loop/b"), 302, "http://ferrous-data.net/loop/a", f("/loop/a")))
    web.add(
        redirect(f("/go/alpha"), 301, "http://www.alpha-shop.com/catalog", u(WWW_ALPHA, "/catalog"))
    )
    web.add(
        redirect(f("/go/bucher"), 302, "http://xn--bcher-test-9db.de/buch/3", u(BUCHER, "/buch/3"))
    )
    error_links = '<a href="/trap/from-{0}">More</a>'
    web.add(plain(f("/gone"), 404, HTML_UTF8, error_links.format("404").encode()))
    web.add(plain(f("/broken"), 500, HTML_UTF8, error_links.format("500").encode()))
    web.traps.update({f("/trap/in-301-body"), f("/trap/from-404"), f("/trap/from-500")})

    docs = PageBuilder(u(DOCS_FERROUS), "Docs host")
    docs.a("http://ferrous-data.net/docs/1", "Docs one", f("/docs/1"))
    docs.a("http://ferrous-data.net/admin", "Admin", f("/admin"))
    web.add(docs.resource())


def _outside(web: SyntheticWeb) -> None:
    """Out-of-scope pages: served, so that a crawler that strays gets caught."""
    news = PageBuilder(u(OUTSIDE), "Outside News")
    news.a("http://www.alpha-shop.com/secret-from-news", "Alpha", u(WWW_ALPHA, "/secret-from-news"))
    web.add(news.resource())
    partner = PageBuilder(u(PARTNER), "Partner Mart")
    partner.a(
        "http://shop.bramble-goods.co.uk/secret-from-partner",
        "Bramble",
        u(BRAMBLE, "/secret-from-partner"),
    )
    web.add(partner.resource())
    web.traps.update({u(WWW_ALPHA, "/secret-from-news"), u(BRAMBLE, "/secret-from-partner")})


def add_sites(web: SyntheticWeb) -> None:
    """Add the hand-written pages of every seed site, and the out-of-scope ones, to ``web``."""
    _alpha(web)
    _bramble(web)
    _alice(web)
    _bucher(web)
    _quill(web)
    _ferrous(web)
    _outside(web)
