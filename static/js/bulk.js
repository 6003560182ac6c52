// « Actions sur la sélection »: the count of ticked orders, « Tout sélectionner » across the
// pages of the search, the page's own « cocher tout », and the message type chosen without a
// click. Everything works without it: the forms post what is ticked.
(function () {
  "use strict";

  function thousands(number) {
    return String(number).replace(/\B(?=(\d{3})+(?!\d))/g, " ");
  }

  function phrase(number) {
    if (number === 0) return "Aucune commande sélectionnée";
    if (number === 1) return "1 commande sélectionnée";
    return thousands(number) + " commandes sélectionnées";
  }

  function refresh(form) {
    const count = form.querySelector("#bulk-count");
    const boxes = Array.from(form.querySelectorAll(".bulk-select"));
    const everything = form.querySelector("#bulk-all");
    const page = form.querySelector("#bulk-page");
    const ticked = boxes.filter((box) => box.checked).length;
    const all = everything && everything.checked;
    if (count) {
      const total = parseInt(count.dataset.total || "", 10);
      count.textContent = all && !isNaN(total) ? phrase(total) + " (toute la recherche)" : phrase(ticked);
    }
    if (page) {
      page.hidden = false;
      page.checked = boxes.length > 0 && ticked === boxes.length;
      page.indeterminate = ticked > 0 && ticked < boxes.length;
    }
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    const form = target.closest && target.closest("#bulk-form");
    if (form) {
      const boxes = form.querySelectorAll(".bulk-select");
      if (target.id === "bulk-page") {
        boxes.forEach((box) => { box.checked = target.checked; });
      } else if (target.id === "bulk-all") {
        if (target.checked) boxes.forEach((box) => { box.checked = true; });
      } else if (target.classList.contains("bulk-select") && !target.checked) {
        const everything = form.querySelector("#bulk-all");
        if (everything) everything.checked = false;  // one order left out: not the whole search
      }
      refresh(form);
      return;
    }
    if (target.matches && target.matches("select[data-bulk-autosubmit]")) {
      target.form.requestSubmit();
    }
  });

  function start() {
    const form = document.getElementById("bulk-form");
    if (form) refresh(form);
  }

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);  // the list's results were replaced
})();
