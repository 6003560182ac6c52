// Connexion page: lists the USB keys through the token bridge running on this workstation,
// has the bridge sign the server's challenge on the key, then hands the proof to the server.
// The PIN goes to the bridge (127.0.0.1) and nowhere else: its field has no name, the form is
// never submitted, and no request to the server carries it.
(() => {
  "use strict";

  const form = document.getElementById("login-form");
  if (!form) return;
  const keySelect = document.getElementById("login-key");
  const pinInput = document.getElementById("login-pin");
  const submitButton = document.getElementById("login-submit");
  const refreshButton = document.getElementById("login-refresh");
  const messageBox = document.getElementById("login-message");
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const bridgeUrl = form.dataset.bridgeUrl.replace(/\/+$/, "");

  const LIST_TIMEOUT_MS = 5000;
  // Checking the PIN and signing on a real key can take several seconds.
  const SIGN_TIMEOUT_MS = 60000;

  const TEXT = {
    searching: "Recherche des clés USB…",
    noKeyOption: "Aucune clé détectée",
    noKey: "Aucune clé USB détectée. Insérez votre clé puis cliquez sur « Actualiser ».",
    bridgeDown: `Le pont de clé USB (token bridge) ne répond pas sur ${bridgeUrl}. ` +
      "Démarrez-le sur ce poste avec : python -m token_bridge",
    locked: "Cette clé est bloquée : son code PIN a été saisi trop de fois de façon incorrecte. " +
      "Demandez à votre administrateur de la débloquer.",
    countLow: "Attention : plusieurs codes PIN incorrects ont déjà été saisis sur cette clé.",
    finalTry: "Attention : dernier essai avant le blocage de la clé.",
    chooseKey: "Choisissez votre clé USB dans la liste.",
    typePin: "Saisissez le code PIN de la clé.",
    working: "Connexion en cours : signature du défi sur la clé USB…",
    keysFound: (count) => (count === 1 ? "1 clé USB détectée." : `${count} clés USB détectées.`),
    serverDown: "Le serveur RA Desk ne répond pas. Vérifiez votre connexion réseau puis réessayez.",
    serverError: "Le serveur n'a pas pu traiter la connexion. Réessayez dans un instant.",
    pageExpired: "La page a expiré : rechargez-la puis réessayez.",
    bridgeFailed: "La clé USB n'a pas pu signer le défi de connexion.",
  };

  let tokens = new Map();
  let listProblem = null; // why the last listing found no key, repeated if one tries anyway
  let busy = false;
  const reported = new Set();

  class LoginProblem extends Error {}

  function show(text, kind) {
    messageBox.textContent = text;
    messageBox.className = `login-message ${text ? kind : ""}`.trim();
  }

  function setBusy(value) {
    busy = value;
    // Only the submit button: disabling « Actualiser » would drop the keyboard focus.
    submitButton.disabled = value;
    form.setAttribute("aria-busy", value ? "true" : "false");
  }

  // --- talking to the bridge and to the server -------------------------------------------

  const { fetchWithTimeout, readJson } = window.RADeskHttp;

  async function callBridge(path, options, timeoutMs) {
    let response;
    try {
      response = await fetchWithTimeout(
        bridgeUrl + path, { cache: "no-store", credentials: "omit", ...options }, timeoutMs);
    } catch (error) {
      reportProblem("bridge_unavailable");
      throw new LoginProblem(TEXT.bridgeDown);
    }
    return { ok: response.ok, data: await readJson(response) };
  }

  async function callServer(url, body) {
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
      throw new LoginProblem(TEXT.serverDown);
    }
    const data = await readJson(response);
    if (response.ok) return data;
    if (data.message) throw new LoginProblem(data.message);
    throw new LoginProblem(response.status === 400 ? TEXT.pageExpired : TEXT.serverError);
  }

  // The server audits why no login could even be attempted; once per page is enough.
  function reportProblem(code) {
    if (reported.has(code)) return;
    reported.add(code);
    callServer(form.dataset.reportUrl, { code }).catch(() => {});
  }

  // --- the key chooser ------------------------------------------------------------------

  // The holder's name from the key's certificate, for bridges that send no "subject": a
  // minimal DER walk to the subject's commonName. Anything unexpected just gives "".
  function holderName(certificatePem) {
    try {
      const base64 = certificatePem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, "");
      const der = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const node = (offset) => {
        let length = der[offset + 1];
        let start = offset + 2;
        if (length & 0x80) {
          const count = length & 0x7f;
          length = 0;
          for (let i = 0; i < count; i += 1) length = length * 256 + der[start + i];
          start += count;
        }
        if (start + length > der.length) throw new RangeError("DER tronqué");
        return { tag: der[offset], start, end: start + length };
      };
      const children = (parent) => {
        const list = [];
        for (let at = parent.start; at < parent.end; at = list[list.length - 1].end) list.push(node(at));
        return list;
      };
      const tbs = children(node(0))[0];
      const fields = children(tbs);
      const subject = fields[(fields[0].tag === 0xa0 ? 1 : 0) + 4]; // after serial, alg, issuer, validity
      for (const rdn of children(subject)) {
        for (const attribute of children(rdn)) {
          const [type, value] = children(attribute);
          const oid = der.subarray(type.start, type.end).join(".");
          if (oid === "85.4.3") { // 2.5.4.3 commonName
            const encoding = value.tag === 0x1e ? "utf-16be" : "utf-8";
            return new TextDecoder(encoding).decode(der.subarray(value.start, value.end));
          }
        }
      }
    } catch (error) {
      return "";
    }
    return "";
  }

  function optionText(token) {
    let text = token.label || token.serial;
    const holder = token.subject || (token.certificate_pem ? holderName(token.certificate_pem) : "");
    if (holder) text += ` — ${holder}`;
    if (!token.certificate_pem) text += " (sans certificat)";
    if (token.pin_state === "locked") text += " (bloquée)";
    return text;
  }

  function fillChooser(list) {
    const previous = keySelect.value;
    tokens = new Map(list.map((token) => [token.serial, token]));
    keySelect.replaceChildren();
    if (list.length === 0) {
      keySelect.append(new Option(TEXT.noKeyOption, ""));
      return;
    }
    for (const token of list) keySelect.append(new Option(optionText(token), token.serial));
    const usable = list.find((token) => token.pin_state !== "locked") || list[0];
    keySelect.value = tokens.has(previous) ? previous : usable.serial;
  }

  function describeSelectedKey() {
    const token = tokens.get(keySelect.value);
    if (!token) return;
    if (token.pin_state === "locked") show(TEXT.locked, "error");
    else if (token.pin_state === "final_try") show(TEXT.finalTry, "warning");
    else if (token.pin_state === "count_low") show(TEXT.countLow, "warning");
    else show(TEXT.keysFound(tokens.size), "info");
  }

  async function listKeys() {
    setBusy(true);
    listProblem = null;
    show(TEXT.searching, "info");
    try {
      const { ok, data } = await callBridge("/v1/tokens", { method: "GET" }, LIST_TIMEOUT_MS);
      if (!ok) throw new LoginProblem(data.message || TEXT.bridgeFailed);
      const list = Array.isArray(data.tokens) ? data.tokens : [];
      fillChooser(list);
      if (list.length === 0) {
        reportProblem("no_key");
        listProblem = TEXT.noKey;
        show(TEXT.noKey, "error");
      } else {
        describeSelectedKey();
      }
    } catch (problem) {
      fillChooser([]);
      listProblem = problem instanceof LoginProblem ? problem.message : TEXT.bridgeFailed;
      show(listProblem, "error");
    } finally {
      setBusy(false);
    }
  }

  // --- logging in -----------------------------------------------------------------------

  function bridgeRefusal(data, token) {
    if (data.error === "pin_incorrect" && Number.isInteger(data.tries_left)) {
      if (data.tries_left === 1) token.pin_state = "final_try";
      return data.tries_left === 1
        ? "Code PIN incorrect. Il reste 1 essai."
        : `Code PIN incorrect. Il reste ${data.tries_left} essais.`;
    }
    if (data.error === "pin_locked") {
      token.pin_state = "locked";
      keySelect.selectedOptions[0].text = optionText(token);
    }
    return data.message || TEXT.bridgeFailed;
  }

  async function logIn(token, pin) {
    const { nonce } = await callServer(form.dataset.challengeUrl, {});
    const { ok, data } = await callBridge("/v1/login-signature", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ serial: token.serial, pin, nonce }),
    }, SIGN_TIMEOUT_MS);
    if (!ok) throw new LoginProblem(bridgeRefusal(data, token));
    const result = await callServer(form.dataset.loginUrl, {
      nonce,
      certificate_pem: data.certificate_pem,
      chain_pem: data.chain_pem || [],
      signature: data.signature,
      algorithm: data.algorithm,
      next: form.dataset.next || null,
    });
    return result.redirect;
  }

  function checkBeforeTry(token) {
    if (!token) {
      show(tokens.size ? TEXT.chooseKey : listProblem || TEXT.noKey, "error");
      keySelect.focus();
      return false;
    }
    if (token.pin_state === "locked") {
      show(TEXT.locked, "error");
      keySelect.focus();
      return false;
    }
    if (!pinInput.value) {
      show(TEXT.typePin, "error");
      pinInput.focus();
      return false;
    }
    return true;
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (busy) return;
    const token = tokens.get(keySelect.value);
    if (!checkBeforeTry(token)) return;
    const pin = pinInput.value;
    pinInput.value = ""; // cleared after every try, whatever its outcome
    setBusy(true);
    show(TEXT.working, "info");
    try {
      const target = await logIn(token, pin);
      window.location.assign(target);
    } catch (problem) {
      show(problem instanceof LoginProblem ? problem.message : TEXT.serverError, "error");
      setBusy(false);
      pinInput.focus();
    }
  }

  form.addEventListener("submit", onSubmit);
  refreshButton.addEventListener("click", () => {
    if (!busy) listKeys();
  });
  keySelect.addEventListener("change", describeSelectedKey);
  listKeys();
})();
