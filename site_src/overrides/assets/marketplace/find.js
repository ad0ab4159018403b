/* The find page (find/): a query box, facet filters with counts, and sorted, paged partner
   cards, the whole view in the address so that it can be shared and the back button works:
   ?query=…&service=teams&service=exchange-online&region=DE&da=1&sort=newest&page=2 (not ?q=,
   which Material's page search reads). Several values of one facet mean any of them; different
   facets must all hold.

   With the search API it shows ranked full-text results, highlighted snippets and the API's
   facet counts. Where the API cannot be reached (a static host, the backend down) the same
   page filters, sorts and pages directory.json in the browser, matches the box against partner
   names only, and says so. Either way a facet's counts apply every filter but the facet's own
   (as the API counts), so a value's count is what ticking it alone in its facet would give.

   It also forwards the old directory/ and search/ addresses here with their queries.
   Partner text goes in through textContent only (marketplaceElement, marketplaceHighlighted). */
(function () {
  "use strict";
  var element = window.marketplaceElement;
  var PER_PAGE = 20;

  // The old directory/ and search/ pages hold only a marker (and a plain link for visitors
  // without script): their addresses go on working, with the view they asked for.
  var moved = document.getElementById("mp-moved");
  if (moved) {
    forward(moved);
    return;
  }

  var root = document.getElementById("mp-find");
  if (!root) return;
  var texts = root.dataset;
  var lang = texts.lang;
  var COLLAPSED = 8;  // values a long facet shows until "show all"
  var SEARCHABLE = 15;  // a facet with more values than this gets a box to find one by name
  var DELAY = 250;  // ms after the last keystroke before the box's text is searched
  var SORTS = ["relevance", "name", "newest"];
  var DA = 1, TRIAL = 2, NAME_IN_ENGLISH = 4, SUMMARY_IN_ENGLISH = 8;  // sitegen/exports.py
  var FACETS = JSON.parse(texts.facets);
  var NAMES = FACETS.map(function (facet) { return facet.name; });
  var labels = {};  // facet name -> value -> display name
  FACETS.forEach(function (facet) {
    labels[facet.name] = Object.create(null);
    facet.values.forEach(function (pair) { labels[facet.name][pair[0]] = pair[1]; });
  });

  var online = Boolean(texts.api);  // until the API fails to answer
  var directory = null;  // promise of the prepared directory.json, loaded when first needed
  var state = readState(window.location.search);
  var asked = 0;  // numbers the searches, so that a late answer never replaces a newer one
  var controller = null;  // aborts the API request a newer search makes stale
  var typingEntry = false;  // the current history entry was made by typing in the box
  var timer = 0;

  function forward(marker) {
    var perPage = Number(marker.dataset.perPage) || 0;  // the old page's results per page
    var old = new URLSearchParams(window.location.search);
    var kept = new URLSearchParams();
    old.forEach(function (value, key) {
      if (key === "name") {
        // the directory's name box without the API
        if (!old.get("query") && value) kept.set("query", value);
      } else if (key === "page") {
        // the find page's page that holds the first result the old page showed
        var page = Math.floor(((parseInt(value, 10) || 1) - 1) * perPage / PER_PAGE) + 1;
        if (page > 1) kept.set("page", String(page));
      } else {
        kept.append(key, value);
      }
    });
    var search = kept.toString();
    window.location.replace(marker.dataset.to + (search ? "?" + search : "") + window.location.hash);
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, key) {
      return key in values ? values[key] : whole;
    });
  }

  function number(count) {
    return count.toLocaleString(lang);
  }

  function fold(text) {
    return text.toLocaleLowerCase(lang).replace(/ё/g, "е");
  }

  function unique(values) {
    return values.filter(function (value, at) { return values.indexOf(value) === at; });
  }

  function hidden(node, hide) {
    if (hide) node.setAttribute("hidden", "");
    else node.removeAttribute("hidden");
  }

  function spoken(node, language) {
    if (language && language !== lang) node.setAttribute("lang", language);
    return node;
  }

  /* The view: what the address says, and back. */

  function readState(search) {
    var params = new URLSearchParams(search);
    var page = params.get("page") || "";
    var read = {
      query: (params.get("query") || "").trim().slice(0, 500),
      filters: {},
      da: params.get("da") === "1",
      sort: SORTS.indexOf(params.get("sort")) >= 0 ? params.get("sort") : "",
      page: /^[0-9]{1,4}$/.test(page) ? Math.min(Math.max(parseInt(page, 10), 1), 1000) : 1
    };
    NAMES.forEach(function (name) {
      read.filters[name] = unique(params.getAll(name).filter(Boolean)).slice(0, 50);
    });
    return read;
  }

  function copy(view, changes) {
    var made = {query: view.query, filters: {}, da: view.da, sort: view.sort, page: view.page};
    NAMES.forEach(function (name) { made.filters[name] = view.filters[name].slice(); });
    return Object.assign(made, changes || {});
  }

  function defaultSort(view) {
    return online && view.query ? "relevance" : "name";
  }

  function sortOf(view) {
    var sort = view.sort || defaultSort(view);
    return sort === "relevance" && !(online && view.query) ? "name" : sort;
  }

  function address(view) {
    var params = new URLSearchParams();
    if (view.query) params.set("query", view.query);
    NAMES.forEach(function (name) {
      view.filters[name].forEach(function (value) { params.append(name, value); });
    });
    if (view.da) params.set("da", "1");
    if (view.sort && view.sort !== defaultSort(view)) params.set("sort", view.sort);
    if (view.page > 1) params.set("page", String(view.page));
    var search = params.toString();
    return search ? "?" + search : window.location.pathname;
  }

  function activeFilters(view) {
    return NAMES.reduce(function (sum, name) { return sum + view.filters[name].length; }, view.da ? 1 : 0);
  }

  // Typing makes one history entry per pause in the box, not one per keystroke: the first
  // pause pushes an entry, the next ones replace it until something else changes the view.
  function commit(typing) {
    var target = address(state);
    var current = window.location.search || window.location.pathname;
    if (typing && typingEntry) window.history.replaceState(null, "", target);
    else if (target !== current) window.history.pushState(null, "", target);
    typingEntry = typing;
  }

  function go(view, moveFocus) {
    clearTimeout(timer);
    state = view;
    commit(false);
    showControls();
    search(moveFocus);
  }

  /* The controls. */

  var form = element("form", {"class": "mp-find__search", "role": "search"});
  var queryLabel = element("label", {"for": "mp-find-query", "class": "mp-find__query-label"}, texts.label);
  var box = element("input", {"type": "search", "id": "mp-find-query", "name": "query",
    "maxlength": "500", "placeholder": texts.placeholder, "autocomplete": "off"});
  var submit = element("button", {"type": "submit", "class": "md-button md-button--primary"}, texts.submit);
  var boxRow = element("div", {"class": "mp-find__box"});
  boxRow.append(box, submit);
  form.append(queryLabel, boxRow);
  var notice = element("p", {"class": "mp-notice", "hidden": ""}, texts.offline);

  var toggle = element("button", {"type": "button", "class": "md-button mp-find__toggle",
    "aria-expanded": "false", "aria-controls": "mp-find-filters"});
  var panel = element("div", {"class": "mp-find__filters", "id": "mp-find-filters"});
  panel.appendChild(element("h2", {"class": "mp-find__heading"}, texts.filters));
  var facetViews = FACETS.map(facetView);
  facetViews.forEach(function (view) { panel.appendChild(view.node); });
  var daView = daFacet();
  panel.appendChild(daView.node);
  var clearFilters = element("button", {"type": "button", "class": "md-button mp-find__clear"}, texts.clear);
  panel.appendChild(clearFilters);

  var results = element("section", {"class": "mp-find__results", "aria-labelledby": "mp-find-results"});
  results.appendChild(element("h2", {"class": "mp-find__hidden", "id": "mp-find-results"}, texts.results));
  var bar = element("div", {"class": "mp-find__bar"});
  var status = element("p", {"class": "mp-find__count", "role": "status", "tabindex": "-1"});
  var sortLabel = element("label", {"for": "mp-find-sort"}, texts.sort);
  var sort = element("select", {"id": "mp-find-sort", "name": "sort"});
  var sortBox = element("div", {"class": "mp-find__sort"});
  sortBox.append(sortLabel, sort);
  bar.append(status, sortBox);
  var chips = element("ul", {"class": "mp-find__chips", "aria-label": texts.active});
  var suggestion = element("p", {"class": "mp-find__suggestion", "hidden": ""});
  var problem = element("p", {"class": "mp-notice", "hidden": ""});
  var empty = element("div", {"class": "mp-find__empty", "hidden": ""});
  var cards = element("ul", {"class": "mp-cards mp-find__cards"});
  var pager = element("nav", {"class": "mp-pager mp-find__pager", "aria-label": texts.pages});
  results.append(bar, chips, suggestion, problem, empty, cards, pager);

  var layout = element("div", {"class": "mp-find__layout"});
  var side = element("div", {"class": "mp-find__side"});
  side.append(toggle, panel);
  layout.append(side, results);
  root.replaceChildren(form, notice, layout);

  function facetView(facet) {
    var node = element("fieldset", {"class": "mp-facet"});
    node.appendChild(element("legend", {"class": "mp-facet__legend"}, facet.label));
    var filterBox = null;
    if (facet.values.length > SEARCHABLE) {
      var filterId = "mp-facet-" + facet.name + "-filter";
      var filterText = format(texts.filterValues, {facet: facet.label});
      node.appendChild(element("label", {"class": "mp-find__hidden", "for": filterId}, filterText));
      filterBox = element("input", {"type": "search", "id": filterId, "class": "mp-facet__filter",
        "placeholder": filterText, "autocomplete": "off"});
      node.appendChild(filterBox);
    }
    var list = element("ul", {"class": "mp-facet__values", "id": "mp-facet-" + facet.name});
    node.appendChild(list);
    var more = element("button", {"type": "button", "class": "mp-facet__more", "hidden": "",
      "aria-expanded": "false", "aria-controls": list.id});
    node.appendChild(more);
    var view = {facet: facet, node: node, list: list, more: more, filterBox: filterBox,
      expanded: false, values: Object.create(null), order: facet.values.map(function (pair) { return pair[0]; }),
      counts: Object.create(null)};
    view.order.forEach(function (value) { addValue(view, value); });
    more.addEventListener("click", function () {
      view.expanded = !view.expanded;
      layoutValues(view);
    });
    if (filterBox) filterBox.addEventListener("input", function () { layoutValues(view); });
    return view;
  }

  function addValue(view, value) {
    var name = view.facet.name;
    var item = element("li", {"class": "mp-facet__value"});
    var label = element("label", {});
    var check = element("input", {"type": "checkbox", "name": name, "value": value});
    var count = element("span", {"class": "mp-facet__count"});
    label.append(check, element("span", {"class": "mp-facet__name"}, labels[name][value] || value), count);
    item.appendChild(label);
    view.values[value] = {item: item, check: check, count: count};
    check.addEventListener("change", function () {
      var chosen = state.filters[name].filter(function (other) { return other !== value; });
      if (check.checked) chosen.push(value);
      var next = copy(state, {page: 1});
      next.filters[name] = chosen;
      go(next);
    });
  }

  // Values with partners (or ticked) are shown, most partners first; a long facet shows its
  // first few until "show all", or those its filter box matches. The focused box is focused
  // again after the reordering (a moved element loses focus).
  function layoutValues(view) {
    var name = view.facet.name;
    var chosen = state.filters[name];
    chosen.forEach(function (value) {
      if (!view.values[value]) {
        view.order.push(value);
        addValue(view, value);
      }
    });
    var ranked = view.order.filter(function (value) {
      return (view.counts[value] || 0) > 0 || chosen.indexOf(value) >= 0;
    });
    var rank = Object.create(null);
    view.order.forEach(function (value, at) { rank[value] = at; });
    ranked.sort(function (a, b) {
      return (view.counts[b] || 0) - (view.counts[a] || 0) || rank[a] - rank[b];
    });
    var needle = view.filterBox ? fold(view.filterBox.value.trim()) : "";
    var focused = document.activeElement;
    var listed = Object.create(null);
    ranked.forEach(function (value, at) {
      var entry = view.values[value];
      var matches = !needle || fold(labels[name][value] || value).indexOf(needle) >= 0;
      var visible = matches && (needle || view.expanded || at < COLLAPSED || chosen.indexOf(value) >= 0);
      hidden(entry.item, !visible);
      view.list.appendChild(entry.item);
      listed[value] = true;
    });
    view.order.forEach(function (value) {
      if (!listed[value]) hidden(view.values[value].item, true);
    });
    if (focused && view.list.contains(focused) && document.activeElement !== focused) focused.focus();
    var long = ranked.length > COLLAPSED && !needle;
    hidden(view.more, !long);
    view.more.setAttribute("aria-expanded", String(view.expanded));
    view.more.textContent = view.expanded ? texts.showFewer : format(texts.showAll, {count: number(ranked.length)});
    hidden(view.node, ranked.length === 0 && !needle);
    if (view.filterBox) hidden(view.filterBox, ranked.length <= SEARCHABLE && !needle);
  }

  function daFacet() {
    var node = element("fieldset", {"class": "mp-facet"});
    node.appendChild(element("legend", {"class": "mp-facet__legend"}, texts.daLegend));
    var label = element("label", {});
    var check = element("input", {"type": "checkbox", "name": "da", "value": "1"});
    var count = element("span", {"class": "mp-facet__count"});
    label.append(check, element("span", {"class": "mp-facet__name"}, texts.da), count);
    var list = element("ul", {"class": "mp-facet__values"});
    var item = element("li", {"class": "mp-facet__value"});
    item.appendChild(label);
    list.appendChild(item);
    node.appendChild(list);
    check.addEventListener("change", function () { go(copy(state, {da: check.checked, page: 1})); });
    return {node: node, check: check, count: count};
  }

  function showControls() {
    if (document.activeElement !== box || box.value.trim() !== state.query) box.value = state.query;
    queryLabel.textContent = online ? texts.label : texts.nameLabel;
    hidden(notice, online);
    var sorts = (online && state.query ? ["relevance"] : []).concat(["name", "newest"]);
    var words = {relevance: texts.relevance, name: texts.byName, newest: texts.newest};
    if (sort.options.length !== sorts.length) {
      sort.replaceChildren.apply(sort, sorts.map(function (value) {
        return element("option", {"value": value}, words[value]);
      }));
    }
    sort.value = sortOf(state);
    FACETS.forEach(function (facet, at) {
      var view = facetViews[at];
      Object.keys(view.values).forEach(function (value) {
        view.values[value].check.checked = state.filters[facet.name].indexOf(value) >= 0;
      });
    });
    daView.check.checked = state.da;
    var active = activeFilters(state);
    toggle.textContent = active ? texts.filters + " (" + number(active) + ")" : texts.filters;
    hidden(clearFilters, !active);
    chips.replaceChildren.apply(chips, removable(state).filter(function (entry) {
      return entry.kind !== "query";
    }).map(function (entry) {
      var item = element("li", {});
      var button = element("button", {"type": "button", "class": "mp-find__chip",
        "aria-label": entry.text}, entry.label);
      button.appendChild(element("span", {"aria-hidden": "true"}, " ×"));
      button.addEventListener("click", function () { go(entry.view, true); });
      item.appendChild(button);
      return item;
    }));
    hidden(chips, !active);
  }

  // What can be taken away from a view, one thing at a time: each facet value, delegated
  // administration, the box's text; with the view that leaves.
  function removable(view) {
    var found = [];
    if (view.query) {
      found.push({kind: "query", label: view.query, text: format(texts.removeQuery, {query: view.query}),
        view: copy(view, {query: "", page: 1})});
    }
    NAMES.forEach(function (name) {
      view.filters[name].forEach(function (value) {
        var without = copy(view, {page: 1});
        without.filters[name] = view.filters[name].filter(function (other) { return other !== value; });
        var label = labels[name][value] || value;
        found.push({kind: "value", facet: name, value: value, label: label,
          text: format(texts.remove, {filter: label}), view: without});
      });
    });
    if (view.da) {
      found.push({kind: "da", label: texts.da, text: format(texts.remove, {filter: texts.da}),
        view: copy(view, {da: false, page: 1})});
    }
    return found;
  }

  toggle.addEventListener("click", function () {
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    panel.classList.toggle("mp-find__filters--open", open);
  });
  clearFilters.addEventListener("click", function () {
    var cleared = copy(state, {da: false, page: 1});
    NAMES.forEach(function (name) { cleared.filters[name] = []; });
    go(cleared);
  });
  sort.addEventListener("change", function () { go(copy(state, {sort: sort.value, page: 1})); });
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var query = box.value.trim();
      if (query === state.query) return;
      state = copy(state, {query: query, page: 1});
      commit(true);
      showControls();
      search();
    }, DELAY);
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    go(copy(state, {query: box.value.trim(), page: 1}));
  });
  window.addEventListener("popstate", function () {
    clearTimeout(timer);
    state = readState(window.location.search);
    typingEntry = false;
    showControls();
    search();
  });
  // Links in the results (pages, hints) change the view in place; a modified click (a new
  // tab or window) is left to the browser.
  results.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-view]");
    if (!link || event.button !== 0 || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    go(readState(link.getAttribute("href").split("?")[1] || ""), true);
  });

  /* Searching: the API, or directory.json in the browser. */

  function search(moveFocus) {
    var mine = ++asked;
    if (controller) controller.abort();
    results.setAttribute("aria-busy", "true");
    function done() {
      if (mine === asked) results.removeAttribute("aria-busy");
    }
    var answer = online ? askApi(state) : askDirectory(state);
    answer.then(function (found) {
      if (mine !== asked) return;
      var pages = Math.max(1, Math.ceil(found.total / PER_PAGE));
      if (state.page > pages) {
        // an old link past the last page: its last page instead
        state = copy(state, {page: pages});
        window.history.replaceState(null, "", address(state));
        search(moveFocus);
        return;
      }
      show(found);
      if (moveFocus) focusResults();
      if (found.total > 0) {
        done();
        return;
      }
      hints(found).then(function (entries) {
        // the removals that bring back most partners first (a stable sort: filter order else)
        entries.sort(function (a, b) { return b.count - a.count; });
        if (mine === asked) showHints(entries);
        done();
      }, function (error) {
        if (mine !== asked || error.name === "AbortError") return;
        showHints([]);  // the counts could not be had: the empty state without them
        done();
      });
    }, function (error) {
      if (mine !== asked || error.name === "AbortError") return;
      if (error.invalid) {
        showProblem(error.message);
        done();
      } else if (online) {
        online = false;  // no API here (or no longer): the page goes on with directory.json
        showControls();
        search(moveFocus);
      } else {
        showProblem(null);
        done();
      }
    });
  }

  // After a change made from inside the results (a page, a hint, a removed filter) the
  // keyboard goes on from the count, scrolled into view if it is above the screen.
  function focusResults() {
    var header = document.querySelector(".md-header");
    if (bar.getBoundingClientRect().top < (header ? header.offsetHeight : 0)) {
      bar.scrollIntoView({block: "start"});
    }
    status.focus({preventScroll: true});
  }

  function apiUrl(view, size) {
    var params = new URLSearchParams({lang: lang, page: String(view.page), per_page: String(size),
      sort: sortOf(view)});
    if (view.query) params.set("q", view.query);
    NAMES.forEach(function (name) {
      view.filters[name].forEach(function (value) { params.append(name, value); });
    });
    if (view.da) params.set("delegated_admin", "true");
    return texts.api + "?" + params;
  }

  function fetchApi(url, signal) {
    return fetch(url, {headers: {"Accept": "application/json"}, signal: signal})
      .then(function (response) {
        if (response.status === 400) {
          // the API itself refusing the address's filters (a hand-edited link): say why
          return response.json().then(function (refusal) {
            var error = new Error(refusal.message);
            error.invalid = true;
            throw error;
          });
        }
        if (!response.ok) throw new Error("search API: " + response.status);
        return response.json();
      })
      .then(function (answer) {
        if (!answer || !Array.isArray(answer.hits)) throw new Error("search API: not an answer");
        return answer;
      });
  }

  function askApi(view) {
    controller = new AbortController();
    var signal = controller.signal;
    return fetchApi(apiUrl(view, PER_PAGE), signal).then(function (answer) {
      var da = answer.facets.delegated_admin || {};
      return {
        total: answer.total,
        items: answer.hits.map(apiCard),
        counts: answer.facets,
        da: da["true"] || 0,
        suggestion: answer.suggestion,
        // Taking one thing away: read from the counts where they say it, else asked.
        removed: function (entry) {
          if (entry.kind === "da") return Promise.resolve((da["true"] || 0) + (da["false"] || 0));
          var rest = entry.kind === "value" ? entry.view.filters[entry.facet] : [];
          if (rest.length === 1) {
            return Promise.resolve((answer.facets[entry.facet] || {})[rest[0]] || 0);
          }
          return fetchApi(apiUrl(copy(entry.view, {page: 1}), 1), signal).then(function (other) {
            return other.total;
          });
        }
      };
    });
  }

  // The API answers with paths from the site's root ("/ru/logos/x.png"), the page links from
  // its own address (the site may live in a folder of a static host): what precedes
  // "partners/<slug>/" in the hit's `url` is this language's root as the API sees it.
  function fromSiteRoot(hit, path) {
    var tail = "partners/" + hit.slug + "/";
    var base = hit.url.slice(0, hit.url.length - tail.length);
    if (hit.url.slice(-tail.length) !== tail || path.indexOf(base) !== 0) return path;
    return texts.root + path.slice(base.length);
  }

  function apiCard(hit) {
    var highlights = hit.highlights || {};
    return {
      slug: hit.slug,
      name: hit.name,
      summary: hit.summary,
      snippet: highlights.summary || highlights.description || null,
      language: hit.lang,
      nameLanguage: hit.lang,
      logo: hit.logo ? fromSiteRoot(hit, hit.logo) : null,
      regions: hit.regions || [],
      programs: hit.programs || [],
      da: Boolean(hit.delegated_admin),
      trial: Boolean(hit.trial),
      published: hit.published || ""
    };
  }

  function loadDirectory() {
    if (!directory) {
      directory = fetch(texts.source, {headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) throw new Error("directory.json: " + response.status);
          return response.json();
        })
        .then(function (data) {
          data.position = data.facets.map(function (facet) {
            var at = Object.create(null);
            facet.values.forEach(function (pair, index) { at[pair[0]] = index; });
            return at;
          });
          data.folded = data.partners.map(function (partner) { return fold(partner[1]); });
          data.region = data.facets.findIndex(function (facet) { return facet.name === "region"; });
          data.program = data.facets.findIndex(function (facet) { return facet.name === "program"; });
          return data;
        });
      directory.catch(function () { directory = null; });
    }
    return directory;
  }

  function askDirectory(view) {
    return loadDirectory().then(function (data) {
      var found = filterLocally(data, view);
      var ordered = found.matched;
      if (sortOf(view) === "newest") {
        // the file is in name order: a stable sort by date keeps names in order within a day
        ordered = ordered.slice().sort(function (a, b) {
          return a[3] < b[3] ? 1 : a[3] > b[3] ? -1 : 0;
        });
      }
      var start = (view.page - 1) * PER_PAGE;
      found.items = ordered.slice(start, start + PER_PAGE).map(function (partner) {
        return localCard(data, partner);
      });
      found.suggestion = null;
      found.removed = function (entry) {
        return Promise.resolve(filterLocally(data, entry.view).total);
      };
      return found;
    });
  }

  // One pass over the partners: those that pass every filter are the results; one that fails
  // a single facet's filter still counts for that facet's values (the API's disjunctive counts).
  function filterLocally(data, view) {
    var facets = data.facets;
    var needle = fold(view.query);
    var wanted = facets.map(function (facet, at) {
      var values = view.filters[facet.name] || [];
      if (!values.length) return null;
      var marks = Object.create(null);
      values.forEach(function (value) {
        if (value in data.position[at]) marks[data.position[at][value]] = true;
      });
      return marks;
    });
    var counts = facets.map(function (facet) { return facet.values.map(function () { return 0; }); });
    var everywhere = facets.map(function () { return 0; });
    var matched = [];
    var daCount = 0;
    data.partners.forEach(function (partner, index) {
      if (needle && data.folded[index].indexOf(needle) < 0) return;
      var failed = -1, failures = 0;
      for (var at = 0; at < facets.length && failures < 2; at++) {
        if (wanted[at] && !passes(partner[6][at], wanted[at], facets[at].everywhere)) {
          failures++;
          failed = at;
        }
      }
      if (view.da && !(partner[5] & DA)) {
        failures++;
        failed = facets.length;
      }
      if (failures > 1) return;
      if (failures === 0) {
        matched.push(partner);
        if (partner[5] & DA) daCount++;
      }
      for (at = 0; at < facets.length; at++) {
        if (failures === 0 || failed === at) tally(partner[6][at], counts[at], everywhere, at, facets[at].everywhere);
      }
    });
    var named = {};
    facets.forEach(function (facet, at) {
      named[facet.name] = Object.create(null);
      counts[at].forEach(function (count, value) {
        var total = count + (value === facet.everywhere ? 0 : everywhere[at]);
        if (total) named[facet.name][facet.values[value][0]] = total;
      });
    });
    return {total: matched.length, matched: matched, counts: named, da: daCount};
  }

  function passes(values, marks, everywhere) {
    for (var at = 0; at < values.length; at++) {
      if (marks[values[at]] || values[at] === everywhere) return true;
    }
    return false;
  }

  // A partner serving everywhere counts for every value of the facet (a filter on any region
  // finds it), added once per facet rather than to each of its values.
  function tally(values, counts, everywhere, at, every) {
    if (every !== undefined && values.indexOf(every) >= 0) {
      counts[every]++;
      everywhere[at]++;
      return;
    }
    values.forEach(function (value) { counts[value]++; });
  }

  function localCard(data, partner) {
    var named = function (at) {
      return at < 0 ? [] : partner[6][at].map(function (value) { return data.facets[at].values[value][0]; });
    };
    return {
      slug: partner[0],
      name: partner[1],
      summary: partner[2],
      snippet: null,
      language: partner[5] & SUMMARY_IN_ENGLISH ? "en" : lang,
      nameLanguage: partner[5] & NAME_IN_ENGLISH ? "en" : lang,
      logo: partner[4] ? texts.root + partner[4] : null,
      regions: named(data.region),
      programs: named(data.program),
      da: Boolean(partner[5] & DA),
      trial: Boolean(partner[5] & TRIAL),
      published: partner[3]
    };
  }

  // Each hint costs a query: a shared link with hundreds of filters ticked must not make the
  // page fire hundreds of requests (the first few removals say enough).
  var MAX_HINTS = 6;

  function hints(found) {
    return Promise.all(removable(state).slice(0, MAX_HINTS).map(function (entry) {
      return found.removed(entry).then(function (count) {
        return Object.assign({count: count}, entry);
      });
    }));
  }

  /* Showing an answer. */

  function show(found) {
    var forms = state.query ? texts.found : texts.matching;
    status.textContent = window.marketplaceCount(forms, lang, found.total);
    hidden(problem, true);
    FACETS.forEach(function (facet, at) {
      var view = facetViews[at];
      view.counts = Object.assign(Object.create(null), found.counts[facet.name]);
      Object.keys(view.values).forEach(function (value) {
        view.values[value].count.textContent = number(view.counts[value] || 0);
      });
      layoutValues(view);
    });
    daView.count.textContent = number(found.da);
    showSuggestion(found.suggestion);
    cards.replaceChildren.apply(cards, found.items.map(card));
    hidden(empty, true);
    empty.replaceChildren();
    showPager(found.total);
  }

  function viewLink(view, text) {
    return element("a", {"href": address(view), "data-view": ""}, text);
  }

  function showSuggestion(text) {
    hidden(suggestion, !text);
    suggestion.replaceChildren();
    if (!text) return;
    var parts = texts.suggest.split("{query}");
    suggestion.append(parts[0], viewLink(copy(state, {query: text, page: 1}), text), parts[1] || "");
  }

  function showHints(entries) {
    empty.replaceChildren(element("p", {"class": "mp-find__none"}, texts.none));
    if (entries.length) {
      var list = element("ul", {"class": "mp-find__hints"});
      entries.forEach(function (entry) {
        var item = element("li", {});
        var link = viewLink(entry.view, entry.text);
        link.appendChild(element("span", {"aria-hidden": "true"}, " → "));
        link.appendChild(document.createTextNode(
          window.marketplaceCount(texts.partnersCount, lang, entry.count)));
        item.appendChild(link);
        list.appendChild(item);
      });
      empty.append(element("p", {}, texts.hints), list);
    }
    if (state.query || activeFilters(state)) {
      var all = copy(state, {query: "", da: false, page: 1, sort: ""});
      NAMES.forEach(function (name) { all.filters[name] = []; });
      var clear = element("p", {});
      clear.appendChild(viewLink(all, texts.clearAll));
      empty.appendChild(clear);
    }
    hidden(empty, false);
  }

  function showProblem(message) {
    status.textContent = "";
    cards.replaceChildren();
    pager.replaceChildren();
    hidden(empty, true);
    hidden(suggestion, true);
    problem.replaceChildren(document.createTextNode(message === null ? texts.failed : texts.invalid));
    if (message) {
      problem.append(" ", spoken(element("span", {}, message), "en"));
    }
    hidden(problem, false);
  }

  function card(item) {
    var node = element("li", {"class": "mp-card mp-find__card"});
    if (item.logo) {
      node.appendChild(element("img", {"class": "mp-find__logo", "src": item.logo, "alt": "",
        "width": "48", "height": "48", "loading": "lazy", "decoding": "async"}));
    } else {
      node.appendChild(element("span", {"class": "mp-find__logo mp-find__logo--none", "aria-hidden": "true"},
        Array.from(item.name.trim())[0] || ""));
    }
    var body = element("div", {"class": "mp-find__card-body"});
    var heading = element("h3", {"class": "mp-find__name"});
    heading.appendChild(spoken(element("a", {"href": texts.partners + item.slug + "/"}, item.name), item.nameLanguage));
    body.appendChild(heading);
    var summary = item.snippet ? window.marketplaceHighlighted(item.snippet, "mp-find__summary")
      : element("p", {"class": "mp-find__summary"}, item.summary);
    body.appendChild(spoken(summary, item.language));
    var badges = element("p", {"class": "mp-find__badges"});
    if (item.da) badges.appendChild(element("span", {"class": "mp-badge mp-badge--da"}, texts.badgeDa));
    if (item.trial) badges.appendChild(element("span", {"class": "mp-badge mp-badge--trial"}, texts.badgeTrial));
    item.programs.forEach(function (program) {
      badges.appendChild(element("span", {"class": "mp-badge"}, labels.program[program] || program));
    });
    if (badges.childNodes.length) body.appendChild(badges);
    if (item.regions.length) {
      var names = item.regions.map(function (region) { return labels.region[region] || region; });
      var shown = names.length > 5 ? names.slice(0, 4) : names;
      var line = element("p", {"class": "mp-find__regions"});
      line.appendChild(element("span", {"class": "mp-find__regions-label"}, texts.regions + " "));
      var more = names.length - shown.length;
      line.appendChild(document.createTextNode(shown.join(", ") + (more ? " " + format(texts.moreRegions, {count: number(more)}) : "")));
      if (more) line.title = names.join(", ");
      body.appendChild(line);
    }
    if (sortOf(state) === "newest" && item.published) {
      var day = new Intl.DateTimeFormat(lang, {year: "numeric", month: "long", day: "numeric", timeZone: "UTC"})
        .format(new Date(item.published + "T00:00:00Z"));
      body.appendChild(element("p", {"class": "mp-find__listed"}, format(texts.listed, {date: day})));
    }
    node.appendChild(body);
    return node;
  }

  function showPager(total) {
    var pages = Math.max(1, Math.ceil(total / PER_PAGE));
    pager.replaceChildren();
    hidden(pager, pages < 2);
    if (pages < 2) return;
    var current = state.page;
    var list = element("ul", {"class": "mp-find__pages"});
    function add(node) {
      var item = element("li", {});
      item.appendChild(node);
      list.appendChild(item);
    }
    function pageLink(page, text, rel) {
      var link = viewLink(copy(state, {page: page}), text);
      if (rel) link.setAttribute("rel", rel);
      return link;
    }
    if (current > 1) add(pageLink(current - 1, texts.prev, "prev"));
    var last = 0;
    for (var page = 1; page <= pages; page++) {
      if (page === 1 || page === pages || Math.abs(page - current) <= 1) {
        if (page - last > 1) add(element("span", {"class": "mp-find__gap", "aria-hidden": "true"}, "…"));
        var link = pageLink(page, number(page));
        link.setAttribute("aria-label", format(texts.page, {page: number(page), pages: number(pages)}));
        if (page === current) link.setAttribute("aria-current", "page");
        add(link);
        last = page;
      }
    }
    if (current < pages) add(pageLink(current + 1, texts.next, "next"));
    pager.append(list, element("p", {"class": "mp-find__page"}, format(texts.page, {page: number(current), pages: number(pages)})));
  }

  showControls();
  search();
})();
