// « Générer le certificat » in the order file: the AET chooses a blank USB key, the server
// signs an instruction for it, the token bridge on this workstation says what it will do and,
// once confirmed, generates the key pair on the key and a certificate request signed there;
// the server has the CA issue the certificate, the bridge writes it onto the key, and the
// server moves the order to « Remise ». Any failure is reported to the server, which keeps the
// order in « Génération du certificat » and revokes a certificate issued but not written.
// The PIN goes to the bridge (127.0.0.1) only: its field has no name and is never posted.
(() => {
  "use strict";

  const form = document.getElementById("generation-form");
  if (!form) return;
  const keySelect = document.getElementById("generation-key");
  const keyType = document.getElementById("generation-key-type");
  const pinInput = document.getElementById("generation-pin");
  const submitButton = document.getElementById("generation-submit");
  const refreshButton = document.getElementById("generation-refresh");
  const messageBox = document.getElementById("generation-message");
  const confirmBox = document.getElementById("generation-confirm");
  const confirmTitle = document.getElementById("generation-confirm-title");
  const stepsList = document.getElementById("generation-steps");
  const goButton = document.getElementById("generation-go");
  const cancelButton = document.getElementById("generation-cancel");
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const bridgeUrl = form.dataset.bridgeUrl.replace(/\/+$/, "");

  const LIST_TIMEOUT_MS = 5000;
  const KEY_TIMEOUT_MS = 120000; // RSA 3072 on a real key can take a while

  const TEXT = {
    searching: "Recherche des clés USB vierges…",
    noKeyOption: "Aucune clé vierge détectée",
    noKey: "Aucune clé USB vierge détectée. Insérez une clé vierge puis cliquez sur « Actualiser ».",
    bridgeDown: `Le pont de clé USB (token bridge) ne répond pas sur ${bridgeUrl}. ` +
      "Démarrez-le sur ce poste avec : python -m token_bridge",
    chooseKey: "Choisissez la clé USB vierge dans la liste.",
    typePin: "Saisissez le code PIN de la clé vierge.",
    preparing: "Préparation de l'instruction de génération…",
    confirm: "Vérifiez ce que le pont va faire, puis confirmez.",
    keyPair: "Génération de la paire de clés sur la clé USB… (ne retirez pas la clé)",
    issuing: "Émission du certificat par l'AC…",
    writing: "Inscription du certificat sur la clé USB… (ne retirez pas la clé)",
    recording: "Enregistrement…",
    cancelled: "Génération annulée : rien n'a été fait sur la clé.",
    serverDown: "Le serveur RA Desk ne répond pas. Vérifiez votre connexion réseau puis réessayez.",
    serverError: "Le serveur n'a pas pu traiter la demande. Réessayez dans un instant.",
    pageExpired: "La page a expiré : rechargez-la puis réessayez.",
    bridgeFailed: "Le pont de clés USB a refusé l'opération.",
    keysFound: (count) => (count === 1 ? "1 clé USB vierge détectée." : `${count} clés USB vierges détectées.`),
  };

  let blankKeys = new Map();
  let busy = false;
  let pending = null; // {instruction, signature, nonce, token, pin} between preview and confirm

  class Problem extends Error {
    constructor(message, stage, code) {
      super(message);
      this.stage = stage;
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
    goButton.disabled = value;
    form.setAttribute("aria-busy", value ? "true" : "false");
  }

  const { fetchWithTimeout, readJson } = window.RADeskHttp;

  async function callBridge(path, body, timeoutMs, stage) {
    let response;
    try {
      response = await fetchWithTimeout(bridgeUrl + path, {
        method: body ? "POST" : "GET",
        cache: "no-store",
        credentials: "omit",
        headers: body ? { "Content-Type": "application/json" } : {},
        body: body ? JSON.stringify(body) : undefined,
      }, timeoutMs);
    } catch (error) {
      throw new Problem(TEXT.bridgeDown, stage, "bridge_unavailable");
    }
    const data = await readJson(response);
    if (!response.ok) throw new Problem(data.message || TEXT.bridgeFailed, stage, data.error || "bridge_error");
    return data;
  }

  async function callServer(url, body, stage) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRFToken": csrfMeta ? csrfMeta.content : "",
        },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw new Problem(TEXT.serverDown, stage, "server_unavailable");
    }
    const data = await readJson(response);
    if (response.ok) return data;
    const message = data.message || (response.status === 400 ? TEXT.pageExpired : TEXT.serverError);
    const problem = new Problem(message, stage, data.code || "server_refused");
    problem.fromServer = true;
    throw problem;
  }

  // The server audits every failure and keeps the reason with the order.
  async function reportFailure(problem, nonce) {
    try {
      const data = await callServer(form.dataset.failureUrl, {
        nonce: nonce || null, stage: problem.stage || "bridge", code: problem.code || "error",
        message: problem.message,
      }, "bridge");
      return data.message || problem.message;
    } catch (error) {
      return problem.message;
    }
  }

  // --- the key chooser --------------------------------------------------------------------

  function fillChooser(list) {
    const previous = keySelect.value;
    blankKeys = new Map(list.map((token) => [token.serial, token]));
    keySelect.replaceChildren();
    if (list.length === 0) {
      keySelect.append(new Option(TEXT.noKeyOption, ""));
      return;
    }
    for (const token of list) {
      const locked = token.pin_state === "locked" ? " (bloquée)" : "";
      keySelect.append(new Option(`${token.label || token.serial} — n° ${token.serial}${locked}`, token.serial));
    }
    keySelect.value = blankKeys.has(previous) ? previous : list[0].serial;
  }

  async function listKeys(keepMessage = false) {
    setBusy(true);
    if (!keepMessage) show(TEXT.searching, "info");
    try {
      const data = await callBridge("/v1/tokens", null, LIST_TIMEOUT_MS, "bridge");
      const list = (Array.isArray(data.tokens) ? data.tokens : []).filter((token) => token.blank);
      fillChooser(list);
      if (!keepMessage) show(list.length ? TEXT.keysFound(list.length) : TEXT.noKey, list.length ? "info" : "error");
    } catch (problem) {
      fillChooser([]);
      if (!keepMessage) show(problem.message, "error");
    } finally {
      setBusy(false);
    }
  }

  // --- generating -----------------------------------------------------------------------

  async function prepare(token, pin) {
    show(TEXT.preparing, "info");
    const signed = await callServer(form.dataset.instructionUrl, {
      serial: token.serial, label: token.label || "", key_type: keyType.value,
    }, "bridge");
    const nonce = JSON.parse(signed.instruction).nonce;
    pending = { ...signed, nonce, token, pin };
    const preview = await callBridge("/v1/generation/preview",
      { instruction: signed.instruction, signature: signed.signature }, LIST_TIMEOUT_MS, "bridge");
    stepsList.replaceChildren(...preview.description.map((line) => {
      const item = document.createElement("li");
      item.textContent = line;
      return item;
    }));
    confirmBox.hidden = false;
    show(TEXT.confirm, "info");
    confirmTitle.focus();
  }

  async function generate(job) {
    const instruction = { instruction: job.instruction, signature: job.signature };
    show(TEXT.keyPair, "info");
    const made = await callBridge("/v1/generation/key-pair", { ...instruction, pin: job.pin },
      KEY_TIMEOUT_MS, "key_pair");
    show(TEXT.issuing, "info");
    let issued;
    try {
      issued = await callServer(form.dataset.requestUrl,
        { nonce: job.nonce, instruction: job.instruction, csr_pem: made.csr_pem }, "request");
    } catch (problem) {
      // Nothing was issued: the key pair goes, so the key is blank again.
      await callBridge("/v1/generation/abandon", { ...instruction, pin: job.pin }, KEY_TIMEOUT_MS, "request")
        .catch(() => {});
      throw problem;
    }
    show(TEXT.writing, "info");
    await callBridge("/v1/generation/certificate", {
      instruction: issued.finalization.instruction, signature: issued.finalization.signature,
      pin: job.pin, certificate_pem: issued.certificate_pem, chain_pem: issued.chain_pem,
    }, KEY_TIMEOUT_MS, "write");
    show(TEXT.recording, "info");
    let done;
    try {
      done = await callServer(form.dataset.writtenUrl,
        { nonce: job.nonce, certificate_sha256: issued.certificate_sha256 }, "write");
    } catch (problem) {
      problem.fromServer = false; // written but not recorded: reported, so it gets revoked
      throw problem;
    }
    const target = new URL(done.redirect, window.location.href);
    if (target.pathname === window.location.pathname && target.search === window.location.search) {
      window.location.hash = target.hash; // same page: only a reload shows the new state
      window.location.reload();
    } else {
      window.location.assign(target.href);
    }
  }

  async function fail(problem, nonce) {
    // A refusal the server decided is already recorded; anything else is reported.
    const text = problem.fromServer ? problem.message : await reportFailure(problem, nonce);
    show(text, "error");
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (busy) return;
    const token = blankKeys.get(keySelect.value);
    if (!token) {
      show(blankKeys.size ? TEXT.chooseKey : TEXT.noKey, "error");
      if (!blankKeys.size) reportFailure(new Problem(TEXT.noKey, "bridge", "no_token"), null);
      keySelect.focus();
      return;
    }
    if (!pinInput.value) {
      show(TEXT.typePin, "error");
      pinInput.focus();
      return;
    }
    const pin = pinInput.value;
    pinInput.value = "";
    setBusy(true);
    try {
      await prepare(token, pin);
    } catch (problem) {
      const nonce = pending ? pending.nonce : null; // the try the server opened, if any
      pending = null;
      await fail(problem, nonce);
      pinInput.focus();
    } finally {
      setBusy(false);
    }
  }

  async function onConfirm() {
    if (busy || !pending) return;
    const job = pending;
    pending = null;
    confirmBox.hidden = true;
    setBusy(true);
    try {
      await generate(job);
    } catch (problem) {
      await fail(problem, job.nonce);
      setBusy(false);
      listKeys(true);
    }
  }

  function onCancel() {
    pending = null;
    confirmBox.hidden = true;
    show(TEXT.cancelled, "info");
    submitButton.focus();
  }

  form.addEventListener("submit", onSubmit);
  goButton.addEventListener("click", onConfirm);
  cancelButton.addEventListener("click", onCancel);
  refreshButton.addEventListener("click", () => {
    if (!busy) listKeys();
  });
  keyType.addEventListener("change", () => {
    pending = null;
    confirmBox.hidden = true;
  });
  listKeys();
})();
