// Visionneuse: keyboard shortcuts, prefetch of the next page, and keeping the side panel and the
// live region in step after HTMX swaps the main area. Every control is a plain link, so the
// viewer works without this file.
(() => {
  "use strict";

  const SHORTCUTS = {
    ArrowRight: "next-page", PageDown: "next-page",
    ArrowLeft: "previous-page", PageUp: "previous-page",
    "+": "zoom-in", "=": "zoom-in", "-": "zoom-out", "0": "fit-width",
    r: "rotate-right", R: "rotate-left",
  };

  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable]") !== null;
  }

  function view() {
    return document.getElementById("document-view");
  }

  function goToPage(page) {
    const section = view();
    if (!section || !section.dataset.page) return;
    const url = new URL(window.location.href);
    url.searchParams.set("document", section.dataset.documentId);
    url.searchParams.set("page", String(page));
    if (window.htmx) {
      window.htmx.ajax("GET", url.pathname + url.search,
                       { target: "#document-view", swap: "outerHTML" }).then(() => {
        window.history.pushState({}, "", url.pathname + url.search);
      });
    } else {
      window.location.assign(url.toString());
    }
  }

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const section = view();
    if (!section) return;
    if (event.key === "Home" || event.key === "End") {
      const count = Number(section.dataset.pageCount || "1");
      const page = event.key === "Home" ? 1 : count;
      if (String(page) !== section.dataset.page) goToPage(page);
      event.preventDefault();
      return;
    }
    const name = SHORTCUTS[event.key];
    if (!name) return;
    const control = section.querySelector(`a[data-shortcut="${name}"]`);
    event.preventDefault();  // also when the control is disabled: no page scroll by surprise
    if (control) control.click();
  });

  // Once a page is shown, fetch the next one at the same resolution: turning the page is instant.
  function prefetchNext() {
    const image = document.getElementById("page-image");
    if (!image || !image.dataset.nextPage) return;
    const load = () => {
      const current = image.currentSrc || image.src;
      if (!current) return;
      const next = new Image();
      next.decoding = "async";
      next.src = current.replace(/\/pages\/\d+(?=\?|$)/, `/pages/${image.dataset.nextPage}`);
    };
    if (image.complete) load(); else image.addEventListener("load", load, { once: true });
  }

  function syncPanel() {
    const section = view();
    const status = document.getElementById("viewer-status");
    if (!section) return;
    if (status && section.dataset.status && status.textContent !== section.dataset.status) {
      status.textContent = section.dataset.status;
    }
    const selected = section.dataset.documentId;
    document.querySelectorAll(".viewer-panel a[data-document-id]").forEach((link) => {
      const current = link.dataset.documentId === selected;
      if (current) link.setAttribute("aria-current", "true"); else link.removeAttribute("aria-current");
      if (link.classList.contains("document-link")) {
        link.closest(".document-item").classList.toggle("selected", current);
      }
    });
  }

  // The open drawer of the lower right corner grows upwards: its body gets the height left
  // between the header's bottom and the corner's other buttons, so it never covers the header.
  function fitDrawer() {
    const corner = document.querySelector(".viewer-corner");
    // Open: a native <details open>, or the wrapper disclosure.js made of it (class « open »).
    const body = corner && corner.querySelector(
      ".viewer-drawer[open] .viewer-drawer-body, .viewer-drawer.open .viewer-drawer-body");
    if (!body) return;
    const header = document.querySelector(".site-header");
    const top = Math.max(header ? header.getBoundingClientRect().bottom : 0, 0) + 8;
    const others = corner.getBoundingClientRect().height - body.getBoundingClientRect().height;
    const bottom = window.innerHeight - corner.getBoundingClientRect().bottom;
    body.style.maxHeight = `${Math.max(window.innerHeight - bottom - others - top, 120)}px`;
  }

  document.addEventListener("toggle", fitDrawer, true);  // toggle does not bubble
  window.addEventListener("resize", fitDrawer);
  window.addEventListener("scroll", fitDrawer, { passive: true });
  document.addEventListener("DOMContentLoaded", prefetchNext);
  // After any swap (the main area, or a check's result): cheap, and nothing to tell apart.
  document.addEventListener("htmx:afterSettle", () => {
    syncPanel();
    prefetchNext();
    fitDrawer();
  });
})();
