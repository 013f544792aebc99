"""HTML fragments are checked when a bundle compiles: balanced, and parameters only where escaping works."""

import pytest

from intentedge.fragments import compile_template
from intentedge.markup import OPTIONAL_END_TAGS, VOID_ELEMENTS, markup_problems


@pytest.mark.parametrize("html", [
    pytest.param('<b class="pz">{city}</b>', id="text"),
    pytest.param('<a title="{t}" href="https://shop.example/p/{product.id}?r={t}">{t}</a>', id="url-after-fixed-text"),
    pytest.param('<a href="/search?q={request.query.q}">search</a>', id="relative-url"),
    pytest.param('<img src="/img/{product.id}.png" alt="{product.name}">', id="void-with-params"),
    pytest.param("<p>one<p>two", id="implied-p-end"),
    pytest.param("<ul><li>a<li>b</ul>", id="implied-li-end"),
    pytest.param("<table><tr><td>a<td>b</table>", id="implied-cell-ends"),
    pytest.param("<br><hr/><input type=checkbox>", id="void"),
    pytest.param("<style>.pz{{color:red}}</style><script>track()</script>", id="fixed-script-and-style"),
    pytest.param("<!-- {city} -->{city}", id="comment"),
    pytest.param("<textarea>{city}</textarea>", id="rcdata-escaped"),
    pytest.param("plain {city} text & more", id="no-markup"),
])
def test_safe_fragments_pass(html):
    assert markup_problems(compile_template(html)) == []


@pytest.mark.parametrize("html, problem", [
    pytest.param("<div>open", "<div> is never closed", id="unclosed"),
    pytest.param("<section><b>x</section>", "</section> closes an element the fragment did not open",
                 id="misnested"),
    pytest.param("</main>", "</main> closes an element the fragment did not open", id="stray-end"),
    pytest.param("<body>x", "<body> belongs to the page, not to a fragment", id="page-level"),
    pytest.param('<a href="{u}">x</a>', "{u} in <a href>: a URL must start with fixed text", id="url-start"),
    pytest.param('<a href=" {u}">x</a>', "{u} in <a href>: a URL must start with fixed text", id="url-start-space"),
    pytest.param('<form action="{u}"></form>', "{u} in <form action>: a URL must start", id="form-action"),
    pytest.param("<a href={u}>x</a>", "{u} in <a href>: quote the attribute value", id="unquoted"),
    pytest.param('<img src="/a.png" onerror="{u}">', "{u} in <img onerror>: escaping cannot", id="handler"),
    pytest.param('<b style="color:{u}">x</b>', "{u} in <b style>: escaping cannot", id="style-attribute"),
    pytest.param('<iframe srcdoc="{u}"></iframe>', "{u} in <iframe srcdoc>: escaping cannot", id="srcdoc"),
    pytest.param("<script>var a = '{u}';</script>", "{u} inside <script>", id="script"),
    pytest.param("<style>.a{{content:'{u}'}}</style>", "{u} inside <style>", id="style"),
    pytest.param('<div {u}="1"></div>', "a parameter names an attribute of <div>", id="attribute-name"),
    pytest.param("<{u}>x", "a parameter names an element", id="element-name"),
])
def test_unsafe_fragments_are_refused(html, problem):
    problems = markup_problems(compile_template(html))
    assert problems and problems[0].startswith(problem), problems


def test_markup_html_parser_refuses_is_a_problem_not_an_error():
    # html.parser raises AssertionError on a marked section without a name (found by fuzz/)
    assert markup_problems(compile_template("<![ x")) == [
        "markup that does not parse: expected name token at '<![ x'"]


def test_a_config_with_an_unsafe_fragment_is_refused_by_the_cli_and_skipped_at_the_edge():
    from intentedge import ConfigError, compile_bundle

    config = {"fragments": {"ok": {"html": "<b>{city}</b>"}, "bad": {"html": '<a href="{request.query.next}">go</a>'}},
              "slots": {"hero": {"fallback": "ok"}}}
    with pytest.raises(ConfigError) as refused:
        compile_bundle(config, source="site.toml")
    assert [(p.item, p.reason.split(":")[0]) for p in refused.value.problems] == [("fragment 'bad'", "html")]
    edge = compile_bundle(config, source="config/abc", strict=False)
    assert edge.slots["hero"].fallback.id == "ok" and len(edge.problems) == 1


# The HTML standard's lists, as its "Void elements" and "Optional tags" sections give them.
SPEC_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SPEC_END_TAG_MAY_BE_OMITTED = {"html", "head", "body", "li", "dt", "dd", "p", "rt", "rp", "optgroup", "option",
                               "colgroup", "caption", "thead", "tbody", "tfoot", "tr", "td", "th"}


def test_the_void_elements_are_the_standards_and_param_which_browsers_still_parse_as_void():
    assert VOID_ELEMENTS == SPEC_VOID | {"param"}


def test_the_elements_whose_end_tag_may_be_omitted_are_the_standards():
    assert OPTIONAL_END_TAGS == SPEC_END_TAG_MAY_BE_OMITTED
    assert not OPTIONAL_END_TAGS & VOID_ELEMENTS


@pytest.mark.parametrize("tag", sorted(OPTIONAL_END_TAGS - {"html", "head", "body"}))
def test_a_fragment_may_leave_any_optional_end_tag_out(tag):
    assert markup_problems(compile_template(f"<{tag}>a")) == []
    assert markup_problems(compile_template(f"<section><{tag}>a</section>")) == []


@pytest.mark.parametrize("html", ['<div class="a"/>', "<span/>text", "<p/>", "<section/><b>x</b>", "<a href='/x'/>"])
def test_a_non_void_element_written_self_closing_is_refused(html):
    assert any("is an open" in problem for problem in markup_problems(compile_template(html)))


@pytest.mark.parametrize("html", ["<br/>", "<img src='/a.png'/>", "<hr />",
                                  '<svg viewBox="0 0 1 1"><path d="M0 0"/><circle r="1"/></svg>',
                                  "<math><mi/></math>", "<svg/>"])
def test_void_and_foreign_elements_may_close_with_a_slash(html):
    assert markup_problems(compile_template(html)) == []
