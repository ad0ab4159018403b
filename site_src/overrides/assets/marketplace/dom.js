/* Shared by the Marketplace's page scripts: build elements with text set through textContent
   only, so that partner-supplied text is never parsed as HTML. */
window.marketplaceElement = function (tag, attributes, text) {
  "use strict";
  var node = document.createElement(tag);
  Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, attributes[key]); });
  if (text !== undefined) node.textContent = text;
  return node;
};

/* A search API highlight (escaped text with <mark> tags) as a paragraph of DOM nodes: the
   text is unescaped into text nodes and the marks rebuilt; nothing is ever assigned as HTML. */
window.marketplaceHighlighted = function (fragment, className) {
  "use strict";
  var element = window.marketplaceElement;
  function unescapeText(escaped) {
    var holder = document.createElement("textarea");
    holder.innerHTML = escaped;  // a textarea's content is text: no element is created
    return holder.value;
  }
  var paragraph = element("p", {"class": className});
  fragment.split(/(<mark>.*?<\/mark>)/).forEach(function (piece) {
    var match = /^<mark>(.*)<\/mark>$/.exec(piece);
    if (match) paragraph.appendChild(element("mark", {}, unescapeText(match[1])));
    else if (piece) paragraph.appendChild(document.createTextNode(unescapeText(piece)));
  });
  return paragraph;
};

/* A count in words in the page's language. `forms` is the JSON the site build writes from the
   message catalog: {CLDR plural category: text with "{count}"}, e.g. {"one": "{count} partner
   found", "other": "{count} partners found"}; Intl.PluralRules picks by the same CLDR rules
   (Russian: 1 and 21 "one", 2 and 22 "few", 5, 11 and 111 "many"). */
window.marketplaceCount = function (forms, lang, count) {
  "use strict";
  var texts = JSON.parse(forms);
  var form = texts[new Intl.PluralRules(lang).select(count)] || texts.other || texts.many;
  return form.replace("{count}", count.toLocaleString(lang));
};
