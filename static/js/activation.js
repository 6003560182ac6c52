// Activation page, step 2: the holder chooses their USB key and a personal PIN; the token
// bridge on this workstation replaces the key's activation PIN by it, following an instruction
// the server signed once the one-time code was accepted; the page then tells the server.
// The new PIN goes to the bridge (127.0.0.1) only: its fields have no name and are never posted.
// The key chooser and the calls to the bridge and the server are bridge.js's.
(() => {
  "use strict";

  const Bridge = window.RADeskBridge;
  const page = Bridge.page("activation");
  if (!page) return;

  const MIN_PIN = 6;
  const MAX_PIN = 16;
  const ACTIVATION_TIMEOUT_MS = 60000; // changing the PIN on a real key takes a few seconds
  const confirmInput = page.element("pin-confirm");
  const TEXT = {
    chooseKey: "Choisissez votre clé USB dans la liste.",
    pinLength: `Le code PIN doit compter de ${MIN_PIN} à ${MAX_PIN} caractères.`,
    pinMismatch: "Les deux codes PIN saisis sont différents.",
    working: "Activation de la clé en cours…",
    bridgeFailed: "Le pont de clés USB n'a pas pu activer la clé.",
  };

  const chooser = page.keyChooser({
    texts: { noKey: "Aucune clé USB détectée. Branchez votre clé puis cliquez sur « Actualiser »." },
    // The holder's key carries a certificate; a blank key is listed last.
    order: (a, b) => Number(a.blank) - Number(b.blank),
    label: (token) => `${token.label || token.serial} — n° ${token.serial}`,
  });

  function checkBeforeTry() {
    const length = page.pin.value.length;
    if (length < MIN_PIN || length > MAX_PIN) {
      page.show(TEXT.pinLength, "error");
      page.pin.focus();
      return false;
    }
    if (page.pin.value !== confirmInput.value) {
      page.show(TEXT.pinMismatch, "error");
      confirmInput.focus();
      return false;
    }
    return true;
  }

  async function activate(token, newPin) {
    const signed = await page.post(page.form.dataset.instructionUrl);
    try {
      await Bridge.callBridge(page.bridgeUrl, "/v1/activation", {
        body: { ...signed, serial: token.serial, new_pin: newPin },
        timeoutMs: ACTIVATION_TIMEOUT_MS, failed: TEXT.bridgeFailed,
      });
    } catch (problem) {
      // Set by an earlier try whose report never reached the server: report it now.
      if (problem.code !== "already_activated") throw problem;
    }
    const done = await page.post(page.form.dataset.completeUrl);
    page.show(done.message, "success");
    page.form.hidden = true;
  }

  page.onTry({ chooseKey: TEXT.chooseKey, check: checkBeforeTry, working: TEXT.working,
               run: activate, alsoClear: [confirmInput] });
  chooser.refresh();
})();
