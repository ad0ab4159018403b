"""Partner Markdown: ordinary formatting survives, raw HTML and unsafe links do not, and no valid
description is slow to render."""

from __future__ import annotations

import pytest

from benchmarks.markdown_cost import MAX_DESCRIPTION, PATHOLOGICAL
from sitegen.markdown import MAX_CONTAINER_DEPTH, MAX_TABLE_CELLS, render_partner_markdown
from tests.conftest import own_cpu_time

REL = 'rel="nofollow noopener noreferrer ugc"'


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        ("# Who we are", "<h2>Who we are</h2>"),  # h1 is the page's own title
        ("Who we are\n==========", "<h2>Who we are</h2>"),
        ("## Services\n### Mail", "<h2>Services</h2>\n<h3>Mail</h3>"),
        (
            "We set up **mail**, *chat* and `code`.",
            "<p>We set up <strong>mail</strong>, <em>chat</em> and <code>code</code>.</p>",
        ),
        (
            "- Migration\n- Managed services\n\n1. First\n2. Second",
            "<ul>\n<li>Migration</li>\n<li>Managed services</li>\n</ul>\n"
            "<ol>\n<li>First</li>\n<li>Second</li>\n</ol>",
        ),
        ("> A quote", "<blockquote>\n<p>A quote</p>\n</blockquote>"),
        ("    indented <code>", "<pre><code>indented &lt;code&gt;\n</code></pre>"),
        ("Line one  \nline two", "<p>Line one<br>\nline two</p>"),
        ("***", "<hr>"),
        (
            '[site](https://acme.example "Acme")',
            f'<p><a href="https://acme.example" title="Acme" {REL}>site</a></p>',
        ),
        (
            "<https://acme.example>",
            f'<p><a href="https://acme.example" {REL}>https://acme.example</a></p>',
        ),
        ("[mail](mailto:sales@acme.example)", f'<p><a href="mailto:sales@acme.example" {REL}>'),
        (
            "| Service | Seats |\n|---|--:|\n| Mail | 5 |",
            "<table>\n<thead>\n<tr>\n<th>Service</th>\n<th>Seats</th>\n</tr>\n</thead>\n"
            "<tbody>\n<tr>\n<td>Mail</td>\n<td>5</td>\n</tr>\n</tbody>\n</table>",
        ),
    ],
)
def test_ordinary_markdown(markdown: str, html: str) -> None:
    assert render_partner_markdown(markdown).strip().startswith(html)


@pytest.mark.parametrize(
    ("markdown", "html"),
    [
        (
            "<script>alert(1)</script>",
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>",
        ),
        (
            '<div onclick="alert(1)">block</div>',
            '<p>&lt;div onclick="alert(1)"&gt;block&lt;/div&gt;</p>',
        ),
        ("a <b>bold</b> &amp; b", "<p>a &lt;b&gt;bold&lt;/b&gt; &amp; b</p>"),
        ("<!-- hidden -->", "<p>&lt;!-- hidden --&gt;</p>"),
    ],
)
def test_raw_html_is_shown_as_text(markdown: str, html: str) -> None:
    assert render_partner_markdown(markdown).strip() == html


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "vbscript:msgbox(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "file:///etc/passwd",
        "ftp://files.example/x",
    ],
)
def test_only_http_and_mailto_links_survive(url: str) -> None:
    html = render_partner_markdown(f"[x]({url}) <{url}> [y][r]\n\n[r]: {url}")
    assert "href" not in html and "<script" not in html
    assert "<img" not in render_partner_markdown(f"![x]({url}) ![y](https://img.example/y.png)")


@pytest.mark.parametrize("case", sorted(PATHOLOGICAL))
def test_no_valid_description_is_slow_to_render(case: str) -> None:
    """Every description a valid listing may hold renders in time linear in its length.

    Python-Markdown took 3.9 s for 4,990 `[`, and markdown-it-py as configured at first 1.2 s
    for a wide table of short rows; the worst case now takes about 35 ms (see
    site_src/en/benchmarks.md). The bound is generous (0.5 s of this thread's CPU time: neither
    other processes nor other threads of the test process, such as a mail or index-warming
    thread left by an earlier test, count in it, nor collecting their garbage): it is not a
    speed test, it catches a return
    to super-linear parsing (seconds) or to output much larger than the text.
    """
    text = PATHOLOGICAL[case](MAX_DESCRIPTION)
    assert len(text) > MAX_DESCRIPTION - 100
    timings = []
    for _ in range(3):  # the best of three: a blow-up is slow every time, a hiccup once
        with own_cpu_time() as spent:
            html = render_partner_markdown(text)
        timings.append(spent.seconds)
    assert min(timings) < 0.5, timings
    assert len(html) < 16 * len(text)


def test_tables_stop_at_the_cell_limit() -> None:
    """A row with fewer cells than the header gets empty ones: without a limit, one-letter rows
    under a 625-column header made 199,000 tokens and 666 KB of HTML from 5,000 characters."""
    text = PATHOLOGICAL["wide table, short rows"](MAX_DESCRIPTION)
    html = render_partner_markdown(text)
    assert html.count("<th>") + html.count("<td>") <= MAX_TABLE_CELLS
    assert html.count("x") == text.count("x")  # the rest is shown as text


def test_rows_past_the_cell_limit_are_text() -> None:
    rows = "".join(f"| {row} | b | c |\n" for row in range(400))
    html = render_partner_markdown("| A | B | C |\n|---|---|---|\n" + rows)
    assert html.count("<tr>") == MAX_TABLE_CELLS // 3  # the header row included
    assert html.count("<td>") + html.count("<th>") == MAX_TABLE_CELLS // 3 * 3
    assert html.endswith("| 399 | b | c |</p>")
    # Each table counts against one limit for the whole description.
    two = render_partner_markdown("| A |\n|---|\n" + "| x |\n" * 1200 + "\n| B |\n|---|\n| y |")
    assert two.count("<table>") == 1 and "| B |" in two


@pytest.mark.parametrize("marker", ["> ", "- ", "1. ", "> - ", "- > "])
def test_quotes_and_lists_nest_to_a_limit_and_deeper_markers_are_text(marker: str) -> None:
    """Each level of a quote or list reads every following line again."""
    html = render_partner_markdown(marker * 20 + "deepest\nlazy line")
    opened = html.count("<blockquote>") + html.count("<ul>") + html.count("<ol>")
    assert opened == MAX_CONTAINER_DEPTH
    assert "deepest" in html and "lazy line" in html


def test_links_within_brackets_within_emphasis_still_work() -> None:
    """Inline nesting is limited to INLINE_NESTING levels; real text needs two or three."""
    html = render_partner_markdown("*[**[Acme] cloud** and [more]](https://acme.example)* ok")
    assert html == (
        f'<p><em><a href="https://acme.example" {REL}><strong>[Acme] cloud</strong> and '
        "[more]</a></em> ok</p>"
    )
    image_link = render_partner_markdown(
        "[![logo](https://acme.example/l.png) Acme](https://acme.example)"
    )
    assert image_link == f'<p><a href="https://acme.example" {REL}> Acme</a></p>'
