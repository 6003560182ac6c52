// <details data-disclosure>: without JavaScript a native disclosure; with it, a real button
// (aria-expanded, aria-controls) that shows or hides its region, which screen readers announce
// as a button, where a <summary> is not always. Details sharing a name stay exclusive: opening
// one closes the others. Opening dispatches « toggle » on the wrapper, as <details> did, for the
// hx-trigger="toggle … from:closest …" that loads a region's content.
(() => {
  let count = 0;

  function show(button, region, open) {
    button.setAttribute("aria-expanded", String(open));
    region.hidden = !open;
    button.parentElement.classList.toggle("open", open);
  }

  function enhance(details) {
    const summary = details.querySelector(":scope > summary");
    if (!summary) return;
    const wrapper = document.createElement("div");
    wrapper.className = `${details.className} disclosure`;
    const group = details.getAttribute("name");
    if (group) wrapper.dataset.group = group;
    const button = document.createElement("button");
    button.type = "button";
    button.className = `${summary.className} disclosure-button`.trim();
    button.append(...summary.childNodes);
    summary.remove();
    const region = document.createElement("div");
    region.id = details.id ? `${details.id}-contenu` : `disclosure-${++count}`;
    region.className = "disclosure-region";
    region.append(...details.childNodes);
    button.setAttribute("aria-controls", region.id);
    if (details.id) wrapper.id = details.id;
    wrapper.append(button, region);
    details.replaceWith(wrapper);
    show(button, region, details.open);
    button.addEventListener("click", () => {
      const opening = button.getAttribute("aria-expanded") !== "true";
      if (opening && group) {
        for (const other of document.querySelectorAll(`.disclosure[data-group="${CSS.escape(group)}"]`)) {
          if (other !== wrapper) show(other.firstElementChild, other.lastElementChild, false);
        }
      }
      show(button, region, opening);
      if (opening) wrapper.dispatchEvent(new Event("toggle"));
    });
  }

  document.querySelectorAll("details[data-disclosure]").forEach(enhance);
  // A block swapped in later (a drawer refreshed after a send) is made the same way.
  document.addEventListener("htmx:load", (event) => {
    const root = event.detail.elt;
    if (root.matches && root.matches("details[data-disclosure]")) enhance(root);
    if (root.querySelectorAll) root.querySelectorAll("details[data-disclosure]").forEach(enhance);
  });
})();
