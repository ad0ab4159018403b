/* Shared by the Marketplace's page scripts: build elements with text set through textContent
   only, so that partner-supplied text is never parsed as HTML. */
window.marketplaceElement = function (tag, attributes, text) {
  "use strict";
  var node = document.createElement(tag);
  Object.keys(attributes || {}).forEach(function (key) { node.setAttribute(key, attributes[key]); });
  if (text !== undefined) node.textContent = text;
  return node;
};
