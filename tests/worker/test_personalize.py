"""HTML pages get each slot's fragment, streamed through the real HTMLRewriter."""

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
