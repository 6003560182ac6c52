// The Commandes list's filters: one search makes one browser history entry. The live filter
// pushes the first results of a typed search and only replaces them while the typing goes on;
// « Rechercher » on the URL already shown adds nothing, so Back takes one press.
(() => {
  let typedEntry = false;  // the current entry was pushed by typing in the filters

  document.addEventListener("htmx:beforeHistoryUpdate", (event) => {
    const request = event.detail.requestConfig || {};
    if (!request.elt || request.elt.id !== "filters-form") {
      typedEntry = false;
      return;
    }
    const history = event.detail.history;
    const trigger = request.triggeringEvent;
    const typed = !!trigger && trigger.type === "input" && trigger.target instanceof HTMLInputElement;
    const here = window.location.pathname + window.location.search;
    if (history.path === here || (typed && typedEntry)) history.type = "replace";
    typedEntry = typed;
  });
  window.addEventListener("popstate", () => { typedEntry = false; });
})();
