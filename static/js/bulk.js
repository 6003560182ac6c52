// « Actions sur la sélection »: the count of ticked orders, « Tout sélectionner » across the
// pages of the search, the page's own « cocher tout », and the message type chosen without a
// click. Ticks survive moving between the pages of one search (kept in the tab's
// sessionStorage, posted as hidden ids); another search starts its own selection. Everything
// works without it: the forms post what is ticked on the page.
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

  // The search's selection: the ids ticked on any of its pages, kept for this tab.
  function storageKey(form) {
    return "radesk-selection:" + (form.dataset.selectionKey || "");
  }

  function stored(form) {
    try {
      return new Set(JSON.parse(sessionStorage.getItem(storageKey(form)) || "[]"));
    } catch (error) {
      return new Set();  // storage refused (private mode): the page's ticks alone
    }
  }

  function store(form, ids) {
    try {
      if (ids.size) sessionStorage.setItem(storageKey(form), JSON.stringify(Array.from(ids)));
      else sessionStorage.removeItem(storageKey(form));
    } catch (error) { /* the page's ticks alone */ }
  }

  // The ids ticked on other pages ride along as hidden fields, so the form posts them all.
  function carry(form, ids) {
    form.querySelectorAll(".bulk-carried").forEach((input) => input.remove());
    const onPage = new Set(Array.from(form.querySelectorAll(".bulk-select"), (box) => box.value));
    ids.forEach((id) => {
      if (onPage.has(id)) return;
      const input = document.createElement("input");
      input.type = "hidden";
      input.name = "ids";
      input.value = id;
      input.className = "bulk-carried";
      form.append(input);
    });
  }

  function remember(form) {
    const ids = stored(form);
    form.querySelectorAll(".bulk-select").forEach((box) => {
      if (box.checked) ids.add(box.value); else ids.delete(box.value);
    });
    store(form, ids);
    carry(form, ids);
  }

  function refresh(form) {
    const count = form.querySelector("#bulk-count");
    const boxes = Array.from(form.querySelectorAll(".bulk-select"));
    const everything = form.querySelector("#bulk-all");
    const page = form.querySelector("#bulk-page");
    const ticked = boxes.filter((box) => box.checked).length;
    const elsewhere = form.querySelectorAll(".bulk-carried").length;
    const all = everything && everything.checked;
    if (count) {
      const total = parseInt(count.dataset.total || "", 10);
      if (all && !isNaN(total)) count.textContent = phrase(total) + " (toute la recherche)";
      else if (elsewhere) count.textContent = phrase(ticked + elsewhere) + " (dont " + thousands(elsewhere) + " sur d'autres pages)";
      else count.textContent = phrase(ticked);
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
      remember(form);
      refresh(form);
      return;
    }
    if (target.matches && target.matches("select[data-bulk-autosubmit]")) {
      target.form.requestSubmit();
    }
  });

  function start() {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    const ids = stored(form);
    form.querySelectorAll(".bulk-select").forEach((box) => {
      if (ids.has(box.value)) box.checked = true;
    });
    carry(form, ids);
    refresh(form);
  }

  // Once an action is asked for, its page holds the selection: a new one starts here.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.id === "bulk-form") {
      try { sessionStorage.removeItem(storageKey(form)); } catch (error) { /* nothing kept */ }
    }
  });

  document.addEventListener("DOMContentLoaded", start);
  document.addEventListener("htmx:afterSettle", start);  // the list's results were replaced
})();
