/* The directory page: filter every partner by every facet in the browser, from directory.json.
   A partner serving
   "worldwide" matches every region. The filters live in the query string (?service=teams&region=DE&da=1&name=co) so a filtered
   view can be bookmarked and shared. Text goes in with textContent only: partner names are
   partner-supplied. */
(function () {
  "use strict";
  var root = document.getElementById("mp-directory");
  if (!root) return;
  var texts = root.dataset;

  var element = window.marketplaceElement;

  function render(data) {
    var params = new URLSearchParams(window.location.search);
    var form = element("form", {"class": "mp-filters", "role": "search"});
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
    var nameLabel = element("label", {}, texts.name);
    var name = element("input", {"type": "text", "name": "name"});
    name.value = params.get("name") || "";
    nameLabel.appendChild(name);
    form.appendChild(nameLabel);
    var daLabel = element("label", {"class": "mp-check"});
    var da = element("input", {"type": "checkbox", "name": "da", "value": "1"});
    da.checked = params.get("da") === "1";
    daLabel.appendChild(da);
    daLabel.appendChild(document.createTextNode(texts.da));
    form.appendChild(daLabel);
    var reset = element("button", {"type": "button", "class": "md-button"}, texts.reset);
    form.appendChild(reset);
    var count = element("p", {"class": "mp-count", "role": "status", "aria-live": "polite"});
    var list = element("ul", {"class": "mp-cards"});
    root.replaceChildren(form, count, list);

    function update() {
      var wanted = selects.map(function (select, number) {
        return select.value === "" ? -1 : data.facets[number].values.findIndex(function (pair) {
          return pair[0] === select.value;
        });
      });
      var needle = name.value.trim().toLocaleLowerCase();
      var shown = data.partners.filter(function (partner) {
        if (da.checked && !partner[2]) return false;
        if (needle && partner[1].toLocaleLowerCase().indexOf(needle) < 0) return false;
        return wanted.every(function (value, number) {
          var values = partner[3][number];
          // A partner serving "worldwide" serves every region a customer picks.
          var everywhere = data.facets[number].everywhere;
          return value < 0 || values.indexOf(value) >= 0 ||
            (everywhere !== undefined && values.indexOf(everywhere) >= 0);
        });
      });
      count.textContent = texts.count.replace("{count}", shown.length);
      list.replaceChildren.apply(list, shown.slice(0, 500).map(function (partner) {
        var item = element("li", {"class": "mp-card"});
        item.appendChild(element("a", {"class": "mp-card__name", "href": texts.partners + partner[0] + "/"}, partner[1]));
        return item;
      }));
      var query = new URLSearchParams();
      selects.forEach(function (select) { if (select.value) query.set(select.name, select.value); });
      if (needle) query.set("name", name.value.trim());
      if (da.checked) query.set("da", "1");
      var search = query.toString();
      window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
    }

    form.addEventListener("input", update);
    form.addEventListener("change", update);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    reset.addEventListener("click", function () {
      selects.forEach(function (select) { select.value = ""; });
      name.value = "";
      da.checked = false;
      update();
    });
    update();
  }

  fetch(texts.source)
    .then(function (response) {
      if (!response.ok) throw new Error(response.status);
      return response.json();
    })
    .then(render)
    .catch(function () {
      root.replaceChildren(element("p", {"class": "mp-notice"}, "The directory data could not be loaded."));
    });
})();
