// « Générer le certificat » in the order file: the AET chooses a blank USB key, the server
// signs an instruction for it, the token bridge on this workstation says what it will do and,
// once confirmed, generates the key pair on the key and a certificate request signed there;
// the server has the CA issue the certificate, the bridge writes it onto the key, and the
// server moves the order to « Remise ». Any failure is reported to the server, which keeps the
// order in « Génération du certificat » and revokes a certificate issued but not written.
// The PIN goes to the bridge (127.0.0.1) only: its field has no name and is never posted.
// The key chooser and the calls to the bridge and the server are bridge.js's.
(() => {
  "use strict";

  const Bridge = window.RADeskBridge;
  const goButton = document.getElementById("generation-go");
  const page = Bridge.page("generation", { busyButtons: [goButton] });
  if (!page) return;
  const { form, show } = page;
  const keyType = page.element("key-type");
  const confirmBox = page.element("confirm");
  const confirmTitle = page.element("confirm-title");
  const stepsList = page.element("steps");
  const cancelButton = page.element("cancel");

  const KEY_TIMEOUT_MS = 120000; // RSA 3072 on a real key can take a while

  const TEXT = {
    chooseKey: "Choisissez la clé USB vierge dans la liste.",
    typePin: "Saisissez le code PIN de la clé vierge.",
    preparing: "Préparation de l'instruction de génération…",
    confirm: "Vérifiez ce que le pont va faire, puis confirmez.",
    keyPair: "Génération de la paire de clés sur la clé USB… (ne retirez pas la clé)",
    issuing: "Émission du certificat par l'AC…",
    writing: "Inscription du certificat sur la clé USB… (ne retirez pas la clé)",
    recording: "Enregistrement…",
    cancelled: "Génération annulée : rien n'a été fait sur la clé.",
  };
  const CHOOSER_TEXT = {
    searching: "Recherche des clés USB vierges…",
    noKeyOption: "Aucune clé vierge détectée",
    noKey: "Aucune clé USB vierge détectée. Insérez une clé vierge puis cliquez sur « Actualiser ».",
    keysFound: (count) => (count === 1 ? "1 clé USB vierge détectée." : `${count} clés USB vierges détectées.`),
  };

  let pending = null; // {instruction, signature, nonce, token, pin} between preview and confirm

  // Every failure names its stage, which the server keeps with the order.
  async function callBridge(path, body, stage, timeoutMs) {
    try {
      return await Bridge.callBridge(page.bridgeUrl, path, { body, timeoutMs });
    } catch (problem) {
      problem.stage = stage;
      throw problem;
    }
  }

  async function callServer(url, body, stage) {
    try {
      return await page.post(url, body);
    } catch (problem) {
      problem.stage = stage;
      throw problem;
    }
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

  const chooser = page.keyChooser({
    texts: CHOOSER_TEXT,
    // A renewal may also go onto the holder's own key: the bridge removes the old certificate.
    keep: (token) => token.blank || token.serial === form.dataset.renewalKey,
    label: (token) => `${token.label || token.serial} — n° ${token.serial}` +
      (token.serial === form.dataset.renewalKey ? " (clé actuelle du porteur)" : "") +
      (token.pin_state === "locked" ? " (bloquée)" : ""),
  });

  // --- generating -----------------------------------------------------------------------

  async function prepare(token, pin) {
    show(TEXT.preparing, "info");
    const signed = await callServer(form.dataset.instructionUrl, {
      serial: token.serial, label: token.label || "", key_type: keyType.value,
    }, "bridge");
    const nonce = JSON.parse(signed.instruction).nonce;
    pending = { ...signed, nonce, token, pin };
    const preview = await callBridge("/v1/generation/preview",
      { instruction: signed.instruction, signature: signed.signature }, "bridge");
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
      "key_pair", KEY_TIMEOUT_MS);
    show(TEXT.issuing, "info");
    let issued;
    try {
      issued = await callServer(form.dataset.requestUrl,
        { nonce: job.nonce, instruction: job.instruction, csr_pem: made.csr_pem }, "request");
    } catch (problem) {
      // Nothing was issued: the key pair goes, so the key is blank again.
      await callBridge("/v1/generation/abandon", { ...instruction, pin: job.pin }, "request", KEY_TIMEOUT_MS)
        .catch(() => {});
      throw problem;
    }
    show(TEXT.writing, "info");
    await callBridge("/v1/generation/certificate", {
      instruction: issued.finalization.instruction, signature: issued.finalization.signature,
      pin: job.pin, certificate_pem: issued.certificate_pem, chain_pem: issued.chain_pem,
    }, "write", KEY_TIMEOUT_MS);
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
    if (page.busy) return;
    const token = chooser.selected();
    if (!token) {
      show(chooser.size ? TEXT.chooseKey : CHOOSER_TEXT.noKey, "error");
      if (!chooser.size) {
        reportFailure(new Bridge.Problem(CHOOSER_TEXT.noKey, "no_token", { stage: "bridge" }), null);
      }
      chooser.focus();
      return;
    }
    if (!page.pin.value) {
      show(TEXT.typePin, "error");
      page.pin.focus();
      return;
    }
    const pin = page.pin.value;
    page.pin.value = "";
    page.setBusy(true);
    try {
      await prepare(token, pin);
    } catch (problem) {
      const nonce = pending ? pending.nonce : null; // the try the server opened, if any
      pending = null;
      await fail(problem, nonce);
      page.pin.focus();
    } finally {
      page.setBusy(false);
    }
  }

  async function onConfirm() {
    if (page.busy || !pending) return;
    const job = pending;
    pending = null;
    confirmBox.hidden = true;
    page.setBusy(true);
    try {
      await generate(job);
    } catch (problem) {
      await fail(problem, job.nonce);
      page.setBusy(false);
      chooser.refresh({ quiet: true });
    }
  }

  function onCancel() {
    pending = null;
    confirmBox.hidden = true;
    show(TEXT.cancelled, "info");
    page.element("submit").focus();
  }

  form.addEventListener("submit", onSubmit);
  goButton.addEventListener("click", onConfirm);
  cancelButton.addEventListener("click", onCancel);
  keyType.addEventListener("change", () => {
    pending = null;
    confirmBox.hidden = true;
  });
  chooser.refresh();
})();
