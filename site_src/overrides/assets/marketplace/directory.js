/* The directory page: filter every partner by every facet in the browser, from directory.json
   (a partner serving "worldwide" matches every region). The search box asks the Marketplace's
   /api/v1/search with the same filters when the API is reachable (ranked, full text, both
   languages); on a static copy of the site without the API it matches partner names only,
   and the page says so. The view lives in the query string (?service=teams&region=DE&da=1&query=…)
   so it can be bookmarked and shared. Partner text goes in through textContent only. */
(function () {
  "use strict";
  var root = document.getElementById("mp-directory");
  if (!root) return;
  var texts = root.dataset;
  var element = window.marketplaceElement;
  var PAGE = 50;

  function apiReachable() {
    var probe = texts.api + "?" + new URLSearchParams({per_page: 1, lang: texts.lang});
    return fetch(probe, {headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok; })
      .catch(function () { return false; });
  }

  function render(data, online) {
    var params = new URLSearchParams(window.location.search);
    var form = element("form", {"class": "mp-filters", "role": "search"});
    var textLabel = element("label", {"class": "mp-filters__text"}, online ? texts.query : texts.name);
    var text = element("input", {"type": "search", "name": "query", "maxlength": "500"});
    text.value = params.get("query") || params.get("name") || "";
    textLabel.appendChild(text);
    form.appendChild(textLabel);
    var selects = data.facets.map(function (facet) {
      var label = element("label", {}, facet.label);
      var select = element("select", {"name": facet.name});
      select.appendChild(element("option", {"value": ""}, texts.any));
      facet.values.forEach(function (pair) {
        select.appendChild(element("option", {"value": pair[0]}, pair[1]));
      });
      select.value = params.get(facet.name) || "";
      if (select.selectedIndex < 0) select.value = "";
      label.appendChild(select);
      form.appendChild(label);
      return select;
    });
    var daLabel = element("label", {"class": "mp-check"});
    var da = element("input", {"type": "checkbox", "name": "da", "value": "1"});
    da.checked = params.get("da") === "1";
    daLabel.appendChild(da);
    daLabel.appendChild(document.createTextNode(texts.da));
    form.appendChild(daLabel);
    var reset = element("button", {"type": "button", "class": "md-button"}, texts.reset);
    form.appendChild(reset);
    var notice = element("p", {"class": "mp-notice"}, texts.offline);
    var count = element("p", {"class": "mp-count", "role": "status", "aria-live": "polite"});
    var list = element("ul", {"class": "mp-cards"});
    var more = element("button", {"type": "button", "class": "md-button", "hidden": ""}, texts.more);
    root.replaceChildren(form);
    if (!online) root.appendChild(notice);
    root.append(count, list, more);

    var asked = 0;  // numbers the API requests, so a late answer never overwrites a newer one
    var shownPages = 1;

    function card(slug, name, snippet, summary) {
      var item = element("li", {"class": "mp-card"});
      item.appendChild(element("a", {"class": "mp-card__name", "href": texts.partners + slug + "/"}, name));
      if (snippet) item.appendChild(window.marketplaceHighlighted(snippet, "mp-card__summary"));
      else if (summary) item.appendChild(element("p", {"class": "mp-card__summary"}, summary));
      return item;
    }

    function saveView(needle) {
      var query = new URLSearchParams();
      if (needle) query.set("query", needle);
      selects.forEach(function (select) { if (select.value) query.set(select.name, select.value); });
      if (da.checked) query.set("da", "1");
      var search = query.toString();
      window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
    }

    function filterLocally(needle) {
      var wanted = selects.map(function (select, number) {
        return select.value === "" ? -1 : data.facets[number].values.findIndex(function (pair) {
          return pair[0] === select.value;
        });
      });
      var lowered = needle.toLocaleLowerCase();
      var shown = data.partners.filter(function (partner) {
        if (da.checked && !partner[2]) return false;
        if (lowered && partner[1].toLocaleLowerCase().indexOf(lowered) < 0) return false;
        return wanted.every(function (value, number) {
          var values = partner[3][number];
          var everywhere = data.facets[number].everywhere;
          return value < 0 || values.indexOf(value) >= 0 ||
            (everywhere !== undefined && values.indexOf(everywhere) >= 0);
        });
      });
      count.textContent = window.marketplaceCount(texts.counts, texts.lang, shown.length);
      list.replaceChildren.apply(list, shown.slice(0, 500).map(function (partner) {
        return card(partner[0], partner[1]);
      }));
      more.hidden = true;
    }

    function searchApi(needle, pages) {
      var number = ++asked;
      var query = {q: needle, lang: texts.lang, per_page: PAGE};
      selects.forEach(function (select) { if (select.value) query[select.name] = select.value; });
      if (da.checked) query.delegated_admin = "true";
      var requests = [];
      for (var page = 1; page <= pages; page++) {
        var url = texts.api + "?" + new URLSearchParams(Object.assign({page: page}, query));
        requests.push(fetch(url, {headers: {"Accept": "application/json"}}).then(function (response) {
          if (!response.ok) throw new Error(response.status);
          return response.json();
        }));
      }
      Promise.all(requests).then(function (answers) {
        if (number !== asked) return;
        var total = answers[0].total;
        count.textContent = window.marketplaceCount(texts.counts, texts.lang, total);
        var items = [];
        answers.forEach(function (answer) {
          answer.hits.forEach(function (hit) {
            var snippet = hit.highlights && (hit.highlights.summary || hit.highlights.description);
            items.push(card(hit.slug, hit.name, snippet, hit.summary));
          });
        });
        list.replaceChildren.apply(list, items);
        more.hidden = items.length >= total;
      }).catch(function () {
        if (number !== asked) return;
        online = false;  // the API went away: say so and fall back to names
        textLabel.firstChild.textContent = texts.name;
        if (!notice.isConnected) root.insertBefore(notice, count);
        filterLocally(needle);
      });
    }

    var pending = null;
    function update() {
      var needle = text.value.trim();
      saveView(needle);
      shownPages = 1;
      if (needle && online) {
        clearTimeout(pending);
        pending = setTimeout(function () { searchApi(needle, shownPages); }, 200);
      } else {
        asked++;
        filterLocally(needle);
      }
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    reset.addEventListener("click", function () {
      selects.forEach(function (select) { select.value = ""; });
      text.value = "";
      da.checked = false;
      update();
    });
    more.addEventListener("click", function () {
      shownPages++;
      searchApi(text.value.trim(), shownPages);
    });
    update();
  }

  Promise.all([
    fetch(texts.source).then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    }),
    apiReachable()
  ]).then(function (results) { render(results[0], results[1]); })
    .catch(function () {
      root.replaceChildren(element("p", {"class": "mp-notice"}, texts.failed));
    });
})();
