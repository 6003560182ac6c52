// After an htmx swap, focus goes to the new content, so that a keyboard or screen reader user is
// never left on <body> or on an element the swap removed. Where, in order:
//  1. an element of the new content marked data-focus-after-swap (a confirmation, a first line);
//  2. where htmx itself put it in the new content ([autofocus], the same id as before);
//  3. when focus went with the old content, or the trigger is marked data-focus-after-swap: the
//     new content's message (role status or alert), else its first heading, else the content.
// A poll or a lazy load that took no focus away moves none.
(() => {
  "use strict";

  let fresh = [];      // top-level elements the current swap inserted (htmx:load, in order)
  let before = null;   // what had focus just before the swap
  let trigger = null;  // the element whose request is being swapped in

  function first(nodes, selector) {
    for (const node of nodes) {
      if (node.matches(selector)) return node;
      const inside = node.querySelector(selector);
      if (inside) return inside;
    }
    return null;
  }

  function focus(element) {
    if (element.tabIndex < 0 && !element.hasAttribute("tabindex")) element.tabIndex = -1;
    element.focus();
  }

  document.addEventListener("htmx:beforeSwap", (event) => {
    before = document.activeElement;
    trigger = (event.detail.requestConfig && event.detail.requestConfig.elt) || event.detail.elt;
    fresh = [];
  });

  document.addEventListener("htmx:load", (event) => {
    const element = event.detail.elt;
    if (element !== document.body && element.nodeType === Node.ELEMENT_NODE) fresh.push(element);
  });

  // Fired once per settled element: the first one handles the whole swap.
  document.addEventListener("htmx:afterSettle", () => {
    const nodes = fresh.filter((node) => node.isConnected);
    fresh = [];
    if (!nodes.length) return;
    const marked = first(nodes, "[data-focus-after-swap]");
    if (marked) {
      focus(marked);
      return;
    }
    const active = document.activeElement;
    if (active && active !== document.body && nodes.some((node) => node.contains(active))) return;
    const lost = before && before !== document.body && !before.isConnected;
    const asked = trigger && trigger.isConnected && trigger.hasAttribute("data-focus-after-swap");
    if (!lost && !asked) return;
    focus(first(nodes, '[role="status"], [role="alert"]')
          || first(nodes, "h1, h2, h3, h4, h5, h6") || nodes[0]);
  });
})();
