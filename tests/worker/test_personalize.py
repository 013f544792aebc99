"""HTML pages get each slot's fragment, streamed through the real HTMLRewriter."""

from html.parser import HTMLParser

from . import origin as site


def _marked(slot_tag: str, rule: str, variant: str) -> str:
    """The slot's opening tag as the rewriter leaves it: the markers appended."""
    return slot_tag[:-1] + f' data-pz-rule="{rule}" data-pz-variant="{variant}">'


def test_every_slot_element_gets_the_fallback(worker, mint_cookie):
    reply = worker.get("/", headers={"Cookie": mint_cookie()})
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    expected = (site.SLOTTED.decode()
                .replace('<header data-personalized-region="hero" class="a">origin hero one',
                         _marked('<header data-personalized-region="hero" class="a">', "fallback", "hero-default")
                         + '<em class="pz">default hero</em>')
                .replace('<section data-personalized-region="hero">origin hero two',
                         _marked('<section data-personalized-region="hero">', "fallback", "hero-default")
                         + '<em class="pz">default hero</em>'))
    # promo has no fallback and no matching rule: the origin's content stays;
    # a slot the config does not know stays untouched too.
    assert reply.text == expected


def test_rule_matching_the_path_wins_over_the_fallback(worker, mint_cookie):
    reply = worker.get("/products/camera.html?ref=home", headers={"Cookie": mint_cookie()})
    expected = (site.PRODUCT.decode()
                .replace('<div data-personalized-region="hero">origin hero',
                         _marked('<div data-personalized-region="hero">', "product-hero", "hero-product")
                         + '<strong class="pz">product hero</strong>')
                # a text fragment is escaped, never parsed as markup
                .replace('<aside data-personalized-region="promo">origin promo',
                         _marked('<aside data-personalized-region="promo">', "product-promo", "promo-product")
                         + "&lt;b&gt;5 % off&lt;/b&gt; &amp; free shipping"))
    assert reply.text == expected


def test_personalized_response_keeps_origin_headers_but_is_private(worker):
    reply = worker.get("/")
    assert reply.headers["x-origin"] == "test-origin"
    assert reply.headers["cache-control"] == "private, no-store"
    assert "etag" not in reply.headers   # the origin's validator describes another body


def test_pages_left_alone_keep_their_validators(worker):
    assert worker.get("/style.css").headers["etag"] == '"origin-etag"'


class _Elements(HTMLParser):
    """Start tags as the browser reads them: (tag, [(name, decoded value)])."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, [(name, value or "") for name, value in attrs]))


def _start_tags(html: str) -> list[tuple[str, list]]:
    parser = _Elements()
    parser.feed(html)
    return parser.tags


def test_a_slot_keeps_every_attribute_value_as_the_browser_reads_it(worker, mint_cookie):
    reply = worker.get("/attributes.html", headers={"Cookie": mint_cookie()})
    assert reply.status == 200
    [(_, before)] = [t for t in _start_tags(site.ODD_ATTRIBUTES) if t[0] == "section"]
    [(_, after)] = [t for t in _start_tags(reply.text) if t[0] == "section"]
    assert after == before + [("data-pz-rule", "fallback"), ("data-pz-variant", "hero-default")]
    assert '<em class="pz">default hero</em></section>' in reply.text and "origin hero" not in reply.text
    # a void element marked as a slot has no content to fill: it keeps its attributes, the page goes on
    [(_, image)] = [t for t in _start_tags(reply.text) if t[0] == "img"]
    assert image[:3] == [("data-personalized-region", "hero"), ("src", "/image.png"), ("alt", "a")]
    assert reply.text.rstrip().endswith("<p>after</p>\n</body></html>")
