"""HTML pages get each slot's fragment, streamed through the real HTMLRewriter."""

from . import origin as site


def test_every_slot_element_gets_the_fallback(worker):
    reply = worker.get("/")
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/html; charset=utf-8"
    expected = (site.SLOTTED.decode()
                .replace("origin hero one", '<em class="pz">default hero</em>')
                .replace("origin hero two", '<em class="pz">default hero</em>'))
    # promo has no fallback and no matching rule: the origin's content stays;
    # a slot the config does not know stays untouched too.
    assert reply.text == expected


def test_rule_matching_the_path_wins_over_the_fallback(worker):
    reply = worker.get("/products/camera.html?ref=home")
    expected = (site.PRODUCT.decode()
                .replace("origin hero", '<strong class="pz">product hero</strong>')
                # a text fragment is escaped, never parsed as markup
                .replace("origin promo", "&lt;b&gt;5 % off&lt;/b&gt; &amp; free shipping"))
    assert reply.text == expected


def test_personalized_response_keeps_origin_headers(worker):
    reply = worker.get("/")
    assert reply.headers["x-origin"] == "test-origin"
