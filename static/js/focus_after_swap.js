// After an htmx swap, focus goes to the new content, so that a keyboard or screen reader user is
// never left on <body> or on an element the swap removed. Where, in order:
//  1. an element of the new content marked data-focus-after-swap (a confirmation, a first line);
//  2. where htmx itself put it in the new content ([autofocus], the same id as before);
//  3. when this very swap removed the focused element, or the trigger is marked
//     data-focus-after-swap: the new content's message (role status or alert), else its first
//     heading, else the content.
// A poll or a lazy load that took no focus away moves none, even while another swap settles.
(() => {
  "use strict";

  const swaps = new WeakMap(); // request (its XMLHttpRequest) → what this swap found and did
  let loaded = [];             // top-level elements the settle under way inserted (htmx:load)

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

  function onBody() {
    const active = document.activeElement;
    return !active || active === document.body || active === document.documentElement;
  }

  // Each swap keeps its own state: polls settle in the middle of other swaps.
  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail;
    loaded = []; // loads no settle claimed (a history restore's): never this swap's content
    if (!detail.xhr) return;
    swaps.set(detail.xhr, {
      before: document.activeElement,
      trigger: (detail.requestConfig && detail.requestConfig.elt) || detail.elt,
      lost: false,
      settled: false,
    });
  });

  // Right after this swap's change to the page, before any other one: did it take the focus?
  document.addEventListener("htmx:afterSwap", (event) => {
    const swap = event.detail.xhr && swaps.get(event.detail.xhr);
    if (!swap) return;
    const before = swap.before;
    swap.lost = swap.lost || Boolean(before && before !== document.body && !before.isConnected);
  });

  // htmx runs a settle's loads, then its htmx:afterSettle events, in one go.
  document.addEventListener("htmx:load", (event) => {
    const element = event.detail.elt;
    if (element !== document.body && element.nodeType === Node.ELEMENT_NODE) loaded.push(element);
  });

  // Fired once per settled element: the first one handles the whole swap.
  document.addEventListener("htmx:afterSettle", (event) => {
    const nodes = loaded.filter((node) => node.isConnected);
    loaded = [];
    const swap = (event.detail.xhr && swaps.get(event.detail.xhr)) || {};
    if (swap.settled || !nodes.length) return;
    swap.settled = true;
    const marked = first(nodes, "[data-focus-after-swap]");
    if (marked) {
      focus(marked);
      return;
    }
    const active = document.activeElement;
    if (active && nodes.some((node) => node.contains(active))) return;
    const trigger = swap.trigger;
    const asked = trigger && trigger.isConnected && trigger.hasAttribute("data-focus-after-swap");
    if (!(swap.lost && onBody()) && !asked) return;
    focus(first(nodes, '[role="status"], [role="alert"]')
          || first(nodes, "h1, h2, h3, h4, h5, h6") || nodes[0]);
  });
})();
