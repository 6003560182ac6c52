// The Commandes list's filters: one search makes one browser history entry. The live filter
// answers while the operator types, then « Rechercher » asks again: the results of a search
// still being typed (one field's text lengthened or shortened) and those of the URL already
// shown replace the current entry instead of adding one, so Back takes one press.
(() => {
  const filterValues = (query) => new URLSearchParams(query);

  // The same search, still being typed: only one field changed, its text a prefix of the other.
  function sameSearch(before, after) {
    const keys = new Set([...before.keys(), ...after.keys()]);
    const changed = [...keys].filter((key) => (before.get(key) || "") !== (after.get(key) || ""));
    if (changed.length !== 1) return changed.length === 0;
    const [old, now] = [before.get(changed[0]) || "", after.get(changed[0]) || ""];
    return old !== "" && now !== "" && (now.startsWith(old) || old.startsWith(now));
  }

  document.addEventListener("htmx:beforeHistoryUpdate", (event) => {
    const request = event.detail.requestConfig || {};
    const history = event.detail.history;
    if (!request.elt || request.elt.id !== "filters-form" || history.type !== "push") return;
    const target = new URL(history.path, window.location.href);
    if (target.pathname === window.location.pathname &&
        sameSearch(filterValues(window.location.search), filterValues(target.search))) {
      history.type = "replace";
    }
  });
})();
