// Upload progress for the requester's pieces (follow-up page, ordering page): any form marked
// data-upload-progress. The form is sent by htmx (multipart); without JavaScript it is a plain
// form post and works the same.
(function () {
  "use strict";
  let focusAfterUpload = null; // the id of the section whose answer takes the focus, once swapped

  function parts(form) {
    return {
      box: form.querySelector(".upload-progress"),
      bar: form.querySelector(".upload-progress progress"),
      status: form.querySelector("[data-upload-status]"),
      button: form.querySelector('button[type="submit"]'),
      input: form.querySelector('input[type="file"]'),
    };
  }

  function uploadForm(event) {
    const form = event.target && event.target.closest && event.target.closest("form[data-upload-progress]");
    return form || null;
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toLocaleString("fr-FR", { maximumFractionDigits: 1 });
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    const form = uploadForm(event);
    if (!form) return;
    const p = parts(form);
    const file = p.input && p.input.files[0];
    const limit = Number(form.dataset.maxBytes || 0);
    if (file && limit && file.size > limit) {
      // Refused before sending megabytes for nothing; the server checks again anyway.
      event.preventDefault();
      p.status.textContent = `Fichier trop volumineux (${megabytes(file.size)} Mo, maximum ${megabytes(limit)} Mo).`;
      return;
    }
    form.dataset.lastPercent = "-1";
    const section = form.closest("section[id]");
    focusAfterUpload = section ? section.id : null;
    p.box.hidden = false;
    p.bar.value = 0;
    p.bar.textContent = "0 %";
    p.button.disabled = true;
    p.status.textContent = "Envoi du fichier en cours : 0 %";
  });

  document.addEventListener("htmx:xhr:progress", (event) => {
    const form = uploadForm(event);
    if (!form || !event.detail.lengthComputable || !event.detail.total) return;
    const percent = Math.floor((event.detail.loaded * 100) / event.detail.total);
    const last = Number(form.dataset.lastPercent || -1);
    if (percent <= last) return; // the download of the answer reports progress too
    form.dataset.lastPercent = String(percent);
    const p = parts(form);
    p.bar.value = percent;
    p.bar.textContent = `${percent} %`;
    // Read out every 25 %, not at every event.
    if (percent === 100 || Math.floor(percent / 25) > Math.floor(Math.max(last, 0) / 25)) {
      p.status.textContent = percent === 100 ? "Fichier envoyé, vérification en cours…"
                                             : `Envoi du fichier en cours : ${percent} %`;
    }
  });

  // An upload that did not reach the server, or that it refused: the form is usable again.
  function uploadFailed(event, message) {
    const form = uploadForm(event);
    if (!form) return;
    const p = parts(form);
    p.button.disabled = false;
    p.box.hidden = true;
    p.status.textContent = message;
  }

  document.addEventListener("htmx:sendError", (event) => {
    uploadFailed(event, "L'envoi a échoué : vérifiez votre connexion puis réessayez.");
  });

  document.addEventListener("htmx:responseError", (event) => {
    const status = event.detail.xhr.status;
    uploadFailed(event, status === 413 || status === 429
      ? "Envoi refusé : fichier trop volumineux ou trop d'envois, réessayez plus tard."
      : "L'envoi a échoué : réessayez dans un instant.");
  });

  // After the swap, move focus to the message that says what happened.
  document.addEventListener("htmx:afterSettle", () => {
    if (!focusAfterUpload) return;
    const section = document.getElementById(focusAfterUpload);
    focusAfterUpload = null;
    const message = section && section.querySelector('p[role="status"].message, p[role="alert"]');
    if (message) {
      message.setAttribute("tabindex", "-1");
      message.focus();
    }
  });
})();
