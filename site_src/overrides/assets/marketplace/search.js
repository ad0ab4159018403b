/* The search page: asks the Marketplace's /api/v1/search and shows ranked partners with
   highlighted snippets. The query lives in the address (?query=…&page=…;
   not ?q=, which Material's own page search claims). When the API cannot be
   reached (a static copy of the site, the server down) the page says so plainly.
   Highlights arrive as escaped text with <mark> tags; they are rebuilt as DOM nodes with
   textContent, never assigned as HTML. */
(function () {
  "use strict";
  var root = document.getElementById("mp-search");
  if (!root) return;
  var texts = root.dataset;

  var element = window.marketplaceElement;

  var highlighted = function (fragment) {
    return window.marketplaceHighlighted(fragment, "mp-card__summary");
  };

  var form = element("form", {"class": "mp-search", "role": "search"});
  var label = element("label", {"for": "mp-search-q", "class": "md-visually-hidden"}, texts.label);
  var input = element("input", {"type": "search", "id": "mp-search-q", "name": "q",
    "placeholder": texts.label, "maxlength": "500"});
  var button = element("button", {"type": "submit", "class": "md-button md-button--primary"}, texts.submit);
  form.append(label, input, button);
  var status = element("div", {"role": "status", "aria-live": "polite"});
  var list = element("ul", {"class": "mp-cards"});
  var pager = element("nav", {"class": "mp-pager"});
  root.replaceChildren(form, status, list, pager);

  function show(data, query, page) {
    status.replaceChildren(element("p", {"class": "mp-count"}, data.total ? window.marketplaceCount(texts.counts, texts.lang, data.total) : texts.none));
    if (data.suggestion) {
      var hint = element("p", {}, texts.suggest + ": ");
      var link = element("a", {"href": "?query=" + encodeURIComponent(data.suggestion)}, data.suggestion);
      hint.appendChild(link);
      status.appendChild(hint);
    }
    list.replaceChildren.apply(list, data.hits.map(function (hit) {
      var item = element("li", {"class": "mp-card"});
      item.appendChild(element("a", {"class": "mp-card__name", "href": texts.partners + hit.slug + "/"}, hit.name));
      var snippet = (hit.highlights && (hit.highlights.summary || hit.highlights.description)) || "";
      item.appendChild(snippet ? highlighted(snippet) : element("p", {"class": "mp-card__summary"}, hit.summary));
      return item;
    }));
    pager.replaceChildren();
    var pages = Math.ceil(data.total / 10);
    if (page > 1) pager.appendChild(element("a", {"href": "?query=" + encodeURIComponent(query) + "&page=" + (page - 1), "rel": "prev"}, texts.prev));
    if (page < pages) pager.appendChild(element("a", {"href": "?query=" + encodeURIComponent(query) + "&page=" + (page + 1), "rel": "next"}, texts.next));
  }

  function offline() {
    status.replaceChildren(element("p", {"class": "mp-notice"}, texts.offline));
    list.replaceChildren();
    pager.replaceChildren();
  }

  function run(query, page) {
    if (!query) return;
    var url = texts.api + "?" + new URLSearchParams({q: query, page: page, per_page: 10, lang: texts.lang});
    fetch(url, {headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (response.status === 400) {
          return response.json().then(function (error) {
            status.replaceChildren(element("p", {"class": "mp-notice"}, error.message));
            list.replaceChildren();
          });
        }
        if (!response.ok) throw new Error(response.status);
        return response.json().then(function (data) { show(data, query, page); });
      })
      .catch(offline);
  }

  var params = new URLSearchParams(window.location.search);
  input.value = params.get("query") || "";
  var page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var query = input.value.trim();
    window.history.pushState(null, "", "?query=" + encodeURIComponent(query));
    run(query, 1);
  });
  run(input.value.trim(), page);
})();
