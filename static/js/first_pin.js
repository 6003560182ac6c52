// Connexion, first login on a key an admin enrolled: the server answered with an instruction
// instead of a session. The operator types their own PIN twice; the token bridge replaces the
// key's initial PIN (the one just typed, kept in this page's memory only) by it and signs the
// server's nonce with the key; the server checks that signature and opens the session.
// Neither PIN is ever sent to the server: the fields have no name, only the bridge gets them.
window.RADeskFirstPin = (() => {
  "use strict";

  const MIN_PIN = 6;
  const MAX_PIN = 16;
  const TIMEOUT_MS = 60000; // changing the PIN and signing on a real key take a few seconds
  const TEXT = {
    pinLength: `Le code PIN doit compter de ${MIN_PIN} à ${MAX_PIN} caractères.`,
    pinMismatch: "Les deux codes PIN saisis sont différents.",
    working: "Changement du code PIN sur la clé USB…",
    bridgeFailed: "Le pont de clés USB n'a pas pu changer le code PIN.",
    reconnect: "Votre clé a déjà votre nouveau code PIN : rechargez la page et connectez-vous avec lui.",
  };

  function ask(loginPage, token, currentPin, answer) {
    const Bridge = window.RADeskBridge;
    const template = document.getElementById("first-pin-template");
    loginPage.form.hidden = true;
    loginPage.show(answer.message || "", "info");
    loginPage.form.after(template.content.cloneNode(true));
    const form = document.getElementById("first-pin-form");
    const field = (name) => document.getElementById(`first-pin-${name}`);
    const show = (text, kind) => {
      field("message").textContent = text;
      field("message").className = `login-message ${text ? kind : ""}`.trim();
    };
    let busy = false;
    field("title").focus();

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (busy) return;
      const newPin = field("new").value;
      if (newPin.length < MIN_PIN || newPin.length > MAX_PIN) {
        show(TEXT.pinLength, "error");
        field("new").focus();
        return;
      }
      if (newPin !== field("confirm").value) {
        show(TEXT.pinMismatch, "error");
        field("confirm").focus();
        return;
      }
      field("new").value = "";
      field("confirm").value = "";
      busy = true;
      field("submit").disabled = true;
      show(TEXT.working, "info");
      let signed;
      try {
        signed = await Bridge.callBridge(loginPage.bridgeUrl, "/v1/operator/pin", {
          body: { ...answer.first_pin, serial: token.serial, pin: currentPin, new_pin: newPin },
          timeoutMs: TIMEOUT_MS, failed: TEXT.bridgeFailed,
        });
      } catch (problem) {
        show(problem.message || TEXT.bridgeFailed, "error");
        busy = false;
        field("submit").disabled = false;
        field("new").focus();
        return;
      }
      try {
        const done = await loginPage.post(form.dataset.pinSetUrl, {
          nonce: JSON.parse(answer.first_pin.instruction).nonce,
          signature: signed.signature, algorithm: signed.algorithm,
        });
        window.location.assign(done.redirect);
      } catch (problem) {
        // The key already has the new PIN: the next login uses it.
        show(`${problem.message} ${TEXT.reconnect}`, "error");
      }
    });
  }

  return { ask };
})();
