// Activation page, step 2: the holder chooses their USB key and a personal PIN; the token
// bridge on this workstation replaces the key's activation PIN by it, following an instruction
// the server signed once the one-time code was accepted; the page then tells the server.
// The new PIN goes to the bridge (127.0.0.1) only: its fields have no name and are never posted.
(() => {
  "use strict";

  const form = document.getElementById("activation-form");
  if (!form) return;
  const keySelect = document.getElementById("activation-key");
  const pinInput = document.getElementById("activation-pin");
  const confirmInput = document.getElementById("activation-pin-confirm");
  const submitButton = document.getElementById("activation-submit");
  const refreshButton = document.getElementById("activation-refresh");
  const messageBox = document.getElementById("activation-message");
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const bridgeUrl = form.dataset.bridgeUrl.replace(/\/+$/, "");
  const MIN_PIN = 6;
  const MAX_PIN = 16;

  const TEXT = {
    searching: "Recherche des clés USB…",
    noKeyOption: "Aucune clé détectée",
    noKey: "Aucune clé USB détectée. Branchez votre clé puis cliquez sur « Actualiser ».",
    bridgeDown: `Le pont de clé USB (token bridge) ne répond pas sur ${bridgeUrl}. ` +
      "Démarrez-le sur ce poste avec : python -m token_bridge",
    chooseKey: "Choisissez votre clé USB dans la liste.",
    pinLength: `Le code PIN doit compter de ${MIN_PIN} à ${MAX_PIN} caractères.`,
    pinMismatch: "Les deux codes PIN saisis sont différents.",
    working: "Activation de la clé en cours…",
    serverDown: "Le serveur RA Desk ne répond pas. Vérifiez votre connexion réseau puis réessayez.",
    serverError: "Le serveur n'a pas pu traiter la demande. Réessayez dans un instant.",
    bridgeFailed: "Le pont de clés USB n'a pas pu activer la clé.",
    keysFound: (count) => (count === 1 ? "1 clé USB détectée." : `${count} clés USB détectées.`),
  };

  let tokens = new Map();
  let busy = false;

  class Problem extends Error {
    constructor(message, code) {
      super(message);
      this.code = code;
    }
  }

  function show(text, kind) {
    messageBox.textContent = text;
    messageBox.className = `login-message ${text ? kind : ""}`.trim();
  }

  function setBusy(value) {
    busy = value;
    submitButton.disabled = value;
    form.setAttribute("aria-busy", value ? "true" : "false");
  }

  const { readJson } = window.RADeskHttp;

  async function callBridge(path, body) {
    let response;
    try {
      response = await fetch(bridgeUrl + path, {
        method: body ? "POST" : "GET", cache: "no-store", credentials: "omit",
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      throw new Problem(TEXT.bridgeDown);
    }
    const data = await readJson(response);
    if (!response.ok) throw new Problem(data.message || TEXT.bridgeFailed, data.error);
    return data;
  }

  async function callServer(url) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json",
                   "X-CSRFToken": csrfMeta ? csrfMeta.content : "" },
        body: "{}",
      });
    } catch (error) {
      throw new Problem(TEXT.serverDown);
    }
    const data = await readJson(response);
    if (!response.ok) throw new Problem(data.message || TEXT.serverError);
    return data;
  }

  function fillChooser(list) {
    tokens = new Map(list.map((token) => [token.serial, token]));
    keySelect.replaceChildren();
    if (list.length === 0) {
      keySelect.append(new Option(TEXT.noKeyOption, ""));
      return;
    }
    for (const token of list) keySelect.append(new Option(`${token.label || token.serial} — n° ${token.serial}`, token.serial));
    // The holder's key carries a certificate; a blank key is listed last.
    const withCertificate = list.find((token) => !token.blank) || list[0];
    keySelect.value = withCertificate.serial;
  }

  async function listKeys() {
    setBusy(true);
    show(TEXT.searching, "info");
    try {
      const data = await callBridge("/v1/tokens");
      const list = (Array.isArray(data.tokens) ? data.tokens : [])
        .sort((a, b) => Number(a.blank) - Number(b.blank));
      fillChooser(list);
      show(list.length ? TEXT.keysFound(list.length) : TEXT.noKey, list.length ? "info" : "error");
    } catch (problem) {
      fillChooser([]);
      show(problem.message, "error");
    } finally {
      setBusy(false);
    }
  }

  function checkBeforeTry(token) {
    if (!token) {
      show(tokens.size ? TEXT.chooseKey : TEXT.noKey, "error");
      keySelect.focus();
      return false;
    }
    if (pinInput.value.length < MIN_PIN || pinInput.value.length > MAX_PIN) {
      show(TEXT.pinLength, "error");
      pinInput.focus();
      return false;
    }
    if (pinInput.value !== confirmInput.value) {
      show(TEXT.pinMismatch, "error");
      confirmInput.focus();
      return false;
    }
    return true;
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (busy) return;
    const token = tokens.get(keySelect.value);
    if (!checkBeforeTry(token)) return;
    const newPin = pinInput.value;
    pinInput.value = "";
    confirmInput.value = "";
    setBusy(true);
    show(TEXT.working, "info");
    try {
      const signed = await callServer(form.dataset.instructionUrl);
      try {
        await callBridge("/v1/activation", { ...signed, serial: token.serial, new_pin: newPin });
      } catch (problem) {
        // Set by an earlier try whose report never reached the server: report it now.
        if (problem.code !== "already_activated") throw problem;
      }
      const done = await callServer(form.dataset.completeUrl);
      show(done.message, "success");
      form.hidden = true;
    } catch (problem) {
      show(problem instanceof Problem ? problem.message : TEXT.serverError, "error");
      setBusy(false);
      pinInput.focus();
    }
  }

  form.addEventListener("submit", onSubmit);
  refreshButton.addEventListener("click", () => {
    if (!busy) listKeys();
  });
  listKeys();
})();
