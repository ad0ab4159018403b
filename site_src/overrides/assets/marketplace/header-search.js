/* The header search on every page (partials/search.html): one combobox in the ARIA pattern
   whose list shows, as you type, partners (logo, name, summary) and hand-written pages,
   ending with "See all results", which opens the find page, as Enter with no option chosen
   does. Partners come from the search API; where it cannot be reached (a static host) from
   the partner names in directory.json. Pages come from search/search_index.json, which
   Material's search plugin writes for the hand-written pages. Material's own search script
   is not mounted; its __search toggle still opens the panel (full screen on phones). Partner
   text goes in through textContent only. */
(function () {
  "use strict";
  var root = document.querySelector("[data-mp-header-search]");
  if (!root) return;
  var texts = root.dataset;
  var element = window.marketplaceElement;
  var input = document.getElementById("mp-hs-input");
  var listbox = document.getElementById("mp-hs-listbox");
  var status = document.getElementById("mp-hs-status");
  var toggle = document.getElementById("__search");
  var wide = window.matchMedia("(min-width: 60em)");  // Material's breakpoint for the panel
  var PARTNERS = 5;
  var PAGES = 4;
  var DELAY = 150;  // ms after the last keystroke: one API request per pause, not per key

  // A line under the list when nothing matched; the status region says it to screen readers.
  var note = element("p", {"class": "mp-hs__note", "aria-hidden": "true", "hidden": ""}, texts.none);
  listbox.parentNode.insertBefore(note, listbox);

  var api = "unknown";  // "up" after one answer; "down" (names only) after a failure first
  var directory = null;  // promise of directory.json's partners, fetched when the API is down
  var pages = null;  // promise of the page entries, fetched on first focus
  var asked = 0;  // numbers the searches, so a late answer never replaces a newer one
  var timer = 0;
  var options = [];
  var active = -1;
  var ownChange = false;  // the toggle's change event is this script's own

  function fetchJson(url) {
    return fetch(url, {headers: {"Accept": "application/json"}}).then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    });
  }

  function findUrl(query) {
    return texts.root + "find/?" + new URLSearchParams({query: query});
  }

  // The API answers with paths from the site's root ("/ru/partners/x/", "/logos/x.png"), but
  // the site may be published under a sub-path: such a path is rebuilt from this language's
  // root, going up as many folders as the hit's own `url` has before "partners/".
  function fromSiteRoot(hit, path) {
    if (!/^\//.test(path) || /^\/\//.test(path)) return path;
    var at = hit.url ? hit.url.lastIndexOf("partners/" + hit.slug + "/") : -1;
    var depth = at < 0 ? 0 : hit.url.slice(0, at).split("/").filter(Boolean).length;
    return texts.root + "../".repeat(depth) + path.slice(1);
  }

  function folded(text) {
    return text.toLocaleLowerCase(texts.lang).replace(/ё/g, "е");
  }

  function words(text) {
    return folded(text).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
  }

  // search_index.json holds HTML; only its text is wanted, for matching and for titles.
  function plain(html) {
    var holder = document.createElement("textarea");
    holder.innerHTML = html.replace(/<[^>]*>/g, " ");  // a textarea's content is text: no element is created
    return holder.value.replace(/\s+/g, " ").trim();
  }

  function loadPages() {
    if (!pages) {
      pages = fetchJson(texts.root + "search/search_index.json").then(function (index) {
        var titles = {};
        index.docs.forEach(function (doc) {
          if (doc.location.indexOf("#") < 0) titles[doc.location] = plain(doc.title);
        });
        return index.docs.map(function (doc) {
          var title = plain(doc.title);
          var section = doc.location.indexOf("#") >= 0;
          return {
            location: doc.location,
            title: title,
            page: section ? titles[doc.location.split("#")[0]] || "" : "",
            titleWords: words(title),
            text: folded(plain(doc.text))
          };
        });
      }).catch(function () { return []; });
    }
    return pages;
  }

  // A page matches when every query word starts a word of its title, or (words of three
  // letters or more) occurs in its text; title matches come first, then the index's order.
  function pagesFor(query) {
    var wanted = words(query);
    return loadPages().then(function (entries) {
      var found = [];
      entries.forEach(function (entry, order) {
        var inTitle = wanted.every(function (word) {
          return entry.titleWords.some(function (titleWord) { return titleWord.indexOf(word) === 0; });
        });
        var inText = inTitle || wanted.every(function (word) {
          return word.length >= 3 && entry.text.indexOf(word) >= 0;
        });
        if (wanted.length && inText) found.push({rank: inTitle ? 0 : 1, order: order, entry: entry});
      });
      found.sort(function (a, b) { return a.rank - b.rank || a.order - b.order; });
      return found.slice(0, PAGES).map(function (item) { return item.entry; });
    });
  }

  // The static fallback: partners whose name (as shown in this language) holds every query
  // word; a name starting with the query first, then names where every word starts a word.
  function byName(query) {
    if (!directory) {
      directory = fetchJson(texts.root + "directory.json")
        .then(function (data) { return data.partners; })
        .catch(function () { directory = null; return []; });
    }
    var needle = folded(query);
    var wanted = words(query);
    return directory.then(function (partners) {
      var found = [];
      partners.forEach(function (partner, order) {
        var name = folded(partner[1]);
        if (!wanted.length || !wanted.every(function (word) { return name.indexOf(word) >= 0; })) return;
        var starts = words(partner[1]);
        var rank = name.indexOf(needle) === 0 ? 0 : wanted.every(function (word) {
          return starts.some(function (nameWord) { return nameWord.indexOf(word) === 0; });
        }) ? 1 : 2;
        found.push({rank: rank, order: order, partner: partner});
      });
      found.sort(function (a, b) { return a.rank - b.rank || a.order - b.order; });
      return {total: found.length, hits: found.slice(0, PARTNERS).map(function (item) {
        return {slug: item.partner[0], name: item.partner[1]};
      })};
    });
  }

  function partnersFor(query) {
    if (api === "down") return byName(query);
    var url = texts.api + "?" + new URLSearchParams({q: query, lang: texts.lang, per_page: PARTNERS});
    return fetch(url, {headers: {"Accept": "application/json"}}).then(function (response) {
      // A query the API refuses (a 400 names the problem) lists no partner; it is not an outage.
      if (response.status === 400) return {total: 0, hits: []};
      if (!response.ok) throw new Error(response.status);
      return response.json().then(function (data) { api = "up"; return data; });
    }).catch(function () {
      if (api !== "up") api = "down";
      return byName(query);
    });
  }

  function option(href, className) {
    return element("a", {"class": "mp-hs__option " + className, "href": href, "role": "option",
      "tabindex": "-1", "aria-selected": "false"});
  }

  function partnerOption(hit) {
    var item = option(texts.root + "partners/" + encodeURIComponent(hit.slug) + "/", "mp-hs__partner");
    if (hit.logo) {
      item.appendChild(element("img", {"class": "mp-hs__logo", "src": fromSiteRoot(hit, hit.logo),
        "alt": "", "width": "32", "height": "32", "loading": "lazy"}));
    } else {
      item.appendChild(element("span", {"class": "mp-hs__logo mp-hs__logo--none", "aria-hidden": "true"},
        Array.from(hit.name.trim())[0] || ""));
    }
    var text = element("span", {"class": "mp-hs__text"});
    if (hit.lang && hit.lang !== texts.lang) text.setAttribute("lang", hit.lang);
    text.appendChild(element("span", {"class": "mp-hs__name"}, hit.name));
    if (hit.summary) text.appendChild(element("span", {"class": "mp-hs__summary"}, hit.summary));
    item.appendChild(text);
    return item;
  }

  function pageOption(entry) {
    var item = option(texts.root + entry.location, "mp-hs__page");
    var text = element("span", {"class": "mp-hs__text"});
    text.appendChild(element("span", {"class": "mp-hs__name"}, entry.title));
    if (entry.page) text.appendChild(element("span", {"class": "mp-hs__summary"}, entry.page));
    item.appendChild(text);
    return item;
  }

  function group(name, label, items) {
    var box = element("div", {"class": "mp-hs__group", "role": "group", "aria-labelledby": "mp-hs-" + name});
    box.appendChild(element("div", {"class": "mp-hs__heading", "role": "presentation", "id": "mp-hs-" + name}, label));
    items.forEach(function (item) { box.appendChild(item); });
    return box;
  }

  function setActive(number) {
    if (options[active]) options[active].setAttribute("aria-selected", "false");
    active = number;
    if (options[active]) {
      options[active].setAttribute("aria-selected", "true");
      input.setAttribute("aria-activedescendant", options[active].id);
      options[active].scrollIntoView({block: "nearest"});
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function expand() {
    if (!options.length || document.activeElement !== input) return;
    listbox.hidden = false;
    note.hidden = options.length > 1;  // only "See all results": nothing matched
    input.setAttribute("aria-expanded", "true");
  }

  function collapse() {
    setActive(-1);
    listbox.hidden = true;
    note.hidden = true;
    input.setAttribute("aria-expanded", "false");
  }

  function render(query, partners, found) {
    setActive(-1);
    var groups = [];
    if (partners.hits.length) groups.push(group("partners", texts.partners, partners.hits.map(partnerOption)));
    if (found.length) groups.push(group("pages", texts.pages, found.map(pageOption)));
    var all = option(findUrl(query), "mp-hs__all");
    all.textContent = texts.all.replace("{query}", function () { return query; });  // "$&" stays text
    listbox.replaceChildren.apply(listbox, groups.concat([all]));
    options = Array.prototype.slice.call(listbox.querySelectorAll("[role=option]"));
    options.forEach(function (item, number) { item.id = "mp-hs-option-" + number; });
    status.textContent = partners.total || found.length
      ? window.marketplaceCount(texts.partnerCounts, texts.lang, partners.total) + ", " +
        window.marketplaceCount(texts.pageCounts, texts.lang, found.length)
      : texts.none;
    expand();
  }

  function update() {
    window.clearTimeout(timer);
    var query = input.value.trim();
    var number = ++asked;
    if (!query) {
      collapse();
      options = [];
      listbox.replaceChildren();
      status.textContent = "";
      return;
    }
    Promise.all([partnersFor(query), pagesFor(query)]).then(function (found) {
      if (number === asked) render(query, found[0], found[1]);
    });
  }

  // Material's CSS opens the panel on the toggle's state; its scroll lock on phones (the page
  // behind stays put, and the panel's growing backdrop cannot widen it) waits for the change
  // event, so the event goes out too, as when Material's own search sets the toggle.
  function setPanel(open) {
    if (toggle.checked === open) return;
    toggle.checked = open;
    ownChange = true;
    toggle.dispatchEvent(new Event("change"));
    ownChange = false;
  }

  function close() {
    collapse();
    setPanel(false);
  }

  function go(href) {
    close();
    input.blur();  // a section of this page: the page stays, the search goes
    window.location.assign(href);
  }

  input.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, DELAY);
  });

  input.addEventListener("focus", function () {
    setPanel(true);  // the wide box, or the phone's full-screen panel
    loadPages();
    expand();
  });

  input.addEventListener("click", expand);  // the list again after Escape folded it

  input.addEventListener("keydown", function (event) {
    if (event.isComposing) return;
    switch (event.key) {
      case "ArrowDown":
      case "ArrowUp":
        event.preventDefault();
        if (!options.length) return;
        expand();
        var step = event.key === "ArrowDown" ? 1 : -1;
        setActive(active < 0 ? (step > 0 ? 0 : options.length - 1)
          : (active + step + options.length) % options.length);
        break;
      case "Enter":
        // Always handled here: the browser's own submission would skip the chosen option.
        event.preventDefault();
        if (active >= 0) go(options[active].href);
        else if (input.value.trim()) go(findUrl(input.value.trim()));
        break;
      case "Escape":
        event.preventDefault();
        if (!listbox.hidden) {
          collapse();
        } else if (input.value) {
          input.value = "";
          update();
        } else {
          close();
          input.blur();
        }
        break;
    }
  });

  root.querySelector("form").addEventListener("submit", function (event) {
    event.preventDefault();  // a phone keyboard's "Go"; Enter is handled above
    if (input.value.trim()) go(findUrl(input.value.trim()));
  });

  root.querySelector("form").addEventListener("reset", function (event) {
    event.preventDefault();
    input.value = "";
    update();
    input.focus();
  });

  // Keep the focus in the box while an option is pressed, as the combobox pattern wants.
  listbox.addEventListener("mousedown", function (event) { event.preventDefault(); });
  listbox.addEventListener("click", function (event) {
    if (!event.target.closest("[role=option]")) return;
    close();
    input.blur();
  });
  listbox.addEventListener("mousemove", function (event) {
    var item = event.target.closest("[role=option]");
    if (item && options.indexOf(item) !== active) setActive(options.indexOf(item));
  });

  // The dimmed page around the wide box: focusout has closed the search already, and the
  // label's own click would check the toggle again.
  root.querySelector(".md-search__overlay").addEventListener("click", function (event) {
    event.preventDefault();
    close();
  });

  root.addEventListener("focusout", function (event) {
    if (root.contains(event.relatedTarget)) return;
    // On a phone the panel covers the screen and stays until its back arrow is tapped:
    // tapping its empty part to put the keyboard away must not close it.
    if (wide.matches || event.relatedTarget) close();
    else collapse();
  });

  toggle.addEventListener("change", function () {
    if (ownChange) return;
    if (toggle.checked) {
      input.focus();  // the magnifier icon of the phone header opened the panel
    } else if (document.activeElement === input) {
      // Material unchecks the toggle by script 125 ms after the page loads or the address
      // changes; with the box in use, that must not fold it away under the cursor.
      setPanel(true);
    } else {
      collapse();
    }
  });
})();
