// « Enrôler sur une clé » (Administration › Opérateurs): the admin, logged in on their own key,
// has the token bridge of this workstation
//   - enrol the operator on a blank key: the server signs an instruction, the bridge says what
//     it will do and, once confirmed, generates the key pair on the key and a certificate
//     request signed there; the server has the CA issue the login certificate, the bridge writes
//     it with a one-time initial PIN, the server binds it and gives that PIN, shown here once;
//   - renew a certificate on the operator's key (same steps; the bridge then removes the old
//     certificate, once the server has bound the new one);
//   - bind the certificate a key already carries (the key signs the server's challenge).
// A failed step is reported to the server, which revokes a certificate issued but not bound;
// what the try left on the key is then removed. PINs go to the bridge (127.0.0.1) only.
(() => {
  "use strict";

  const Bridge = window.RADeskBridge;
  const KEY_TIMEOUT_MS = 120000; // RSA 3072 on a real key can take a while
  const base64Body = (pem) => (pem || "").replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
  const keyName = (token) => `${token.label || token.serial} — n° ${token.serial}` +
    (token.pin_state === "locked" ? " (bloquée)" : "");

  // Each failure names its stage, which the server keeps with the try.
  function staged(promise, stage) {
    return promise.catch((problem) => {
      problem.stage = problem.stage || stage;
      throw problem;
    });
  }

  // Enrolment and renewal: the same dialogue, on a blank key or on the operator's key.
  function keyPairForm(prefix, { texts, chooserTexts, keep, body, onDone }) {
    const goButton = document.getElementById(`${prefix}-go`);
    const page = Bridge.page(prefix, { busyButtons: goButton ? [goButton] : [] });
    if (!page) return null;
    const { form, show } = page;
    const data = form.dataset;
    const keyType = page.element("key-type");
    const confirmBox = page.element("confirm");
    let pending = null; // between the bridge's preview and the admin's confirmation

    const toBridge = (path, payload, stage, timeoutMs) =>
      staged(Bridge.callBridge(page.bridgeUrl, path, { body: payload, timeoutMs }), stage);
    const toServer = (url, payload, stage) => staged(page.post(url, payload), stage);

    // The server records the failure; it says whether the try was still in progress, in
    // which case what it left on the key may go.
    async function report(problem, nonce) {
      try {
        return await page.post(data.failureUrl, {
          nonce: nonce || null, stage: problem.stage || "bridge", code: problem.code || "error",
          message: problem.message,
        });
      } catch (error) {
        return { message: problem.message, undo: false };
      }
    }

    async function undo(job, how) {
      const payload = { instruction: job.instruction, signature: job.signature, pin: how.pin };
      if (how.restore) payload.restore_pin = how.restore;
      await Bridge.callBridge(page.bridgeUrl, "/v1/operator/abandon",
        { body: payload, timeoutMs: KEY_TIMEOUT_MS }).catch(() => {});
    }

    async function fail(problem, job) {
      let text = problem.message;
      if (!problem.fromServer) {
        const answer = await report(problem, job ? job.nonce : null);
        text = answer.message || text;
        if (answer.undo && problem.undo && job) await undo(job, problem.undo);
      }
      show(text, "error");
    }

    const chooser = page.keyChooser({ texts: chooserTexts, keep, label: keyName });

    async function prepare(token, pin) {
      show(texts.preparing, "info");
      const signed = await toServer(data.instructionUrl, {
        serial: token.serial, label: token.label || "", key_type: keyType.value, ...body(),
      }, "bridge");
      pending = { ...signed, nonce: JSON.parse(signed.instruction).nonce, token, pin };
      const preview = await toBridge("/v1/operator/preview",
        { instruction: signed.instruction, signature: signed.signature }, "bridge");
      page.element("steps").replaceChildren(...preview.description.map((line) => {
        const item = document.createElement("li");
        item.textContent = line;
        return item;
      }));
      confirmBox.hidden = false;
      show(texts.confirm, "info");
      page.element("confirm-title").focus();
    }

    async function run(job) {
      const signed = { instruction: job.instruction, signature: job.signature };
      show(texts.keyPair, "info");
      const made = await toBridge("/v1/operator/key-pair", { ...signed, pin: job.pin },
        "key_pair", KEY_TIMEOUT_MS);
      show(texts.issuing, "info");
      let issued;
      try {
        issued = await toServer(data.requestUrl,
          { nonce: job.nonce, instruction: job.instruction, csr_pem: made.csr_pem }, "request");
      } catch (problem) {
        if (problem.fromServer) await undo(job, { pin: job.pin }); // refused: nothing issued
        else problem.undo = { pin: job.pin };
        throw problem;
      }
      const initialPin = JSON.parse(issued.finalization.instruction).initial_pin;
      show(texts.writing, "info");
      try {
        await toBridge("/v1/operator/certificate", {
          instruction: issued.finalization.instruction, signature: issued.finalization.signature,
          pin: job.pin, certificate_pem: issued.certificate_pem, chain_pem: issued.chain_pem,
        }, "write", KEY_TIMEOUT_MS);
      } catch (problem) {
        problem.undo = { pin: job.pin };
        throw problem;
      }
      show(texts.recording, "info");
      let done;
      try {
        done = await toServer(data.writtenUrl,
          { nonce: job.nonce, certificate_sha256: issued.certificate_sha256 }, "record");
      } catch (problem) {
        problem.fromServer = false; // written but not bound: reported, so it gets revoked
        problem.undo = initialPin ? { pin: initialPin, restore: job.pin } : { pin: job.pin };
        throw problem;
      }
      await onDone(done, job, page);
    }

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (page.busy) return;
      const token = chooser.selected();
      if (!token) {
        show(chooser.size ? texts.chooseKey : chooser.whyNone(), "error");
        chooser.focus();
        return;
      }
      if (!page.pin.value) {
        show(texts.typePin, "error");
        page.pin.focus();
        return;
      }
      const pin = page.pin.value;
      page.pin.value = "";
      page.setBusy(true);
      try {
        await prepare(token, pin);
      } catch (problem) {
        const job = pending;
        pending = null;
        await fail(problem, job);
        page.pin.focus();
      } finally {
        page.setBusy(false);
      }
    });

    goButton.addEventListener("click", async () => {
      if (page.busy || !pending) return;
      const job = pending;
      pending = null;
      confirmBox.hidden = true;
      page.setBusy(true);
      try {
        await run(job);
      } catch (problem) {
        await fail(problem, job);
        page.setBusy(false);
        chooser.refresh({ quiet: true });
      }
    });

    page.element("cancel").addEventListener("click", () => {
      pending = null;
      confirmBox.hidden = true;
      show(texts.cancelled, "info");
      page.element("submit").focus();
    });
    keyType.addEventListener("change", () => {
      pending = null;
      confirmBox.hidden = true;
    });
    return { page, chooser, reset: () => { pending = null; confirmBox.hidden = true; } };
  }

  const COMMON = {
    typePin: "Saisissez le code PIN de la clé.",
    preparing: "Préparation de l'instruction…",
    confirm: "Vérifiez ce que le pont va faire, puis confirmez.",
    keyPair: "Génération de la paire de clés sur la clé USB… (ne retirez pas la clé)",
    issuing: "Émission du certificat de connexion par l'AC…",
    writing: "Inscription du certificat sur la clé USB… (ne retirez pas la clé)",
    recording: "Enregistrement…",
  };

  // --- enrolment on a blank key -----------------------------------------------------------

  const enrolment = keyPairForm("enrolment", {
    texts: { ...COMMON, chooseKey: "Choisissez la clé USB vierge dans la liste.",
             typePin: "Saisissez le code PIN de la clé vierge.",
             cancelled: "Enrôlement annulé : rien n'a été fait sur la clé." },
    chooserTexts: {
      searching: "Recherche des clés USB vierges…",
      noKeyOption: "Aucune clé vierge détectée",
      noKey: "Aucune clé USB vierge détectée. Insérez une clé vierge puis cliquez sur « Actualiser ».",
      keysFound: (count) => (count === 1 ? "1 clé USB vierge détectée." : `${count} clés USB vierges détectées.`),
    },
    keep: (token) => token.blank,
    body: () => ({}),
    onDone: async (done, job, page) => {
      page.form.hidden = true;
      const panel = document.getElementById("enrolment-done");
      document.getElementById("enrolment-initial-pin").textContent = done.initial_pin;
      panel.hidden = false;
      panel.focus();
    },
  });
  if (enrolment) enrolment.chooser.refresh();

  // --- renewal on the operator's key ----------------------------------------------------------

  let renewed = null; // {id, der}: the certificate chosen with « Renouveler »
  const renewal = keyPairForm("renewal", {
    texts: { ...COMMON, chooseKey: "Choisissez la clé USB de l'opérateur dans la liste.",
             cancelled: "Renouvellement annulé : rien n'a été fait sur la clé." },
    chooserTexts: {
      searching: "Recherche de la clé qui porte ce certificat…",
      noKeyOption: "Clé de l'opérateur non détectée",
      noKey: "Aucune clé USB branchée ne porte ce certificat. Insérez la clé de l'opérateur puis cliquez sur « Actualiser ».",
      keysFound: () => "Clé de l'opérateur détectée.",
    },
    keep: (token) => Boolean(renewed && token.certificate_pem
                             && base64Body(token.certificate_pem) === renewed.der),
    body: () => ({ renews: renewed.id }),
    onDone: async (done, job, page) => {
      // Bound and the old one revoked: the old certificate leaves the key (PIN unchanged).
      page.show("Retrait de l'ancien certificat de la clé USB…", "info");
      await Bridge.callBridge(page.bridgeUrl, "/v1/operator/cleanup", {
        body: { ...done.cleanup, pin: job.pin }, timeoutMs: KEY_TIMEOUT_MS,
      }).catch(() => {});
      window.location.assign(done.redirect);
    },
  });
  if (renewal) {
    for (const button of document.querySelectorAll(".renew-button")) {
      button.addEventListener("click", () => {
        if (renewal.page.busy) return;
        renewed = { id: Number(button.dataset.certificateId), der: button.dataset.certificate };
        const serial = button.closest("tr").querySelector("code");
        document.getElementById("renewal-serial").textContent = serial ? serial.textContent : "";
        renewal.reset();
        renewal.page.form.hidden = false;
        document.getElementById("renewal-title").focus();
        renewal.chooser.refresh();
      });
    }
  }

  // --- the certificate a key already carries --------------------------------------------------

  const binding = Bridge.page("binding", {
    serverError: "Le serveur n'a pas pu associer le certificat. Réessayez dans un instant.",
  });
  if (binding) {
    const chooser = binding.keyChooser({
      texts: { noKeyOption: "Aucune clé avec certificat détectée",
               noKey: "Aucune clé USB portant un certificat détectée. Insérez la clé puis cliquez sur « Actualiser »." },
      keep: (token) => Boolean(token.certificate_pem),
      label: (token) => {
        const holder = Bridge.holderName(token.certificate_pem);
        return keyName(token) + (holder ? ` — ${holder}` : "");
      },
    });
    binding.onTry({
      chooseKey: "Choisissez la clé USB dans la liste.",
      working: "Signature du défi sur la clé USB…",
      check: () => {
        if (binding.pin.value) return true;
        binding.show("Saisissez le code PIN de la clé.", "error");
        binding.pin.focus();
        return false;
      },
      run: async (token, pin) => {
        const { nonce } = await binding.post(binding.form.dataset.challengeUrl);
        const signed = await Bridge.callBridge(binding.bridgeUrl, "/v1/login-signature", {
          body: { serial: token.serial, pin, nonce }, timeoutMs: 60000,
        });
        const done = await binding.post(binding.form.dataset.bindUrl, {
          nonce, certificate_pem: signed.certificate_pem, chain_pem: signed.chain_pem || [],
          signature: signed.signature, algorithm: signed.algorithm,
        });
        window.location.assign(done.redirect);
      },
    });
    chooser.refresh();
  }
})();
