// Connexion page: the operator chooses their USB key (listed by bridge.js through the token
// bridge running on this workstation), the bridge signs the server's challenge on the key,
// then the page hands the proof to the server.
// The PIN goes to the bridge (127.0.0.1) and nowhere else: its field has no name, the form is
// never submitted, and no request to the server carries it.
(() => {
  "use strict";

  const { callBridge, holderName, page: bridgePage } = window.RADeskBridge;
  const page = bridgePage("login", {
    serverError: "Le serveur n'a pas pu traiter la connexion. Réessayez dans un instant.",
  });
  if (!page) return;

  // Checking the PIN and signing on a real key can take several seconds.
  const SIGN_TIMEOUT_MS = 60000;
  const TEXT = {
    locked: "Cette clé est bloquée : son code PIN a été saisi trop de fois de façon incorrecte. " +
      "Demandez à votre administrateur de la débloquer.",
    countLow: "Attention : plusieurs codes PIN incorrects ont déjà été saisis sur cette clé.",
    finalTry: "Attention : dernier essai avant le blocage de la clé.",
    chooseKey: "Choisissez votre clé USB dans la liste.",
    typePin: "Saisissez le code PIN de la clé.",
    working: "Connexion en cours : signature du défi sur la clé USB…",
    bridgeFailed: "La clé USB n'a pas pu signer le défi de connexion.",
  };
  const reported = new Set();

  // The server audits why no login could even be attempted; once per page is enough.
  function reportProblem(code) {
    if (reported.has(code)) return;
    reported.add(code);
    page.post(page.form.dataset.reportUrl, { code }).catch(() => {});
  }

  // The key's name, its holder, and what stands in the way of logging in with it.
  function optionText(token) {
    let text = token.label || token.serial;
    const holder = token.subject || (token.certificate_pem ? holderName(token.certificate_pem) : "");
    if (holder) text += ` — ${holder}`;
    if (!token.certificate_pem) text += " (sans certificat)";
    if (token.pin_state === "locked") text += " (bloquée)";
    return text;
  }

  function describeKey(token) {
    if (token.pin_state === "locked") return [TEXT.locked, "error"];
    if (token.pin_state === "final_try") return [TEXT.finalTry, "warning"];
    if (token.pin_state === "count_low") return [TEXT.countLow, "warning"];
    return null;
  }

  const chooser = page.keyChooser({
    label: optionText,
    describe: describeKey,
    onListed: (list, problem) => {
      if (problem && ["no_key", "bridge_unavailable"].includes(problem.code)) reportProblem(problem.code);
    },
  });

  async function signOnTheKey(token, pin, nonce) {
    try {
      return await callBridge(page.bridgeUrl, "/v1/login-signature", {
        body: { serial: token.serial, pin, nonce }, timeoutMs: SIGN_TIMEOUT_MS, failed: TEXT.bridgeFailed,
      });
    } catch (problem) {
      if (problem.code === "bridge_unavailable") reportProblem(problem.code);
      if (problem.code === "pin_incorrect" && problem.answer.tries_left === 1) token.pin_state = "final_try";
      if (problem.code === "pin_locked") {
        token.pin_state = "locked";
        chooser.relabel(token);
      }
      throw problem;
    }
  }

  async function logIn(token, pin) {
    const { nonce } = await page.post(page.form.dataset.challengeUrl);
    const signed = await signOnTheKey(token, pin, nonce);
    const result = await page.post(page.form.dataset.loginUrl, {
      nonce,
      certificate_pem: signed.certificate_pem,
      chain_pem: signed.chain_pem || [],
      signature: signed.signature,
      algorithm: signed.algorithm,
      next: page.form.dataset.next || null,
    });
    // A key enrolled for this operator, still on its initial PIN: first_pin.js takes over.
    if (result.first_pin && window.RADeskFirstPin) {
      window.RADeskFirstPin.ask(page, token, pin, result);
      return;
    }
    window.location.assign(result.redirect);
  }

  function checkBeforeTry(token) {
    if (token.pin_state === "locked") {
      page.show(TEXT.locked, "error");
      chooser.focus();
      return false;
    }
    if (!page.pin.value) {
      page.show(TEXT.typePin, "error");
      page.pin.focus();
      return false;
    }
    return true;
  }

  page.onTry({ chooseKey: TEXT.chooseKey, check: checkBeforeTry, working: TEXT.working, run: logIn });
  chooser.refresh();
})();
