// What the pages that talk to the token bridge share (login, generation, activation): calls to
// the bridge and to the RA Desk server, the bridge's French errors, the page's message line and
// the USB key chooser (list the keys, fill the <select>, « Actualiser »). Loaded before the
// page's own script; no inline script anywhere (the CSP forbids it).
window.RADeskBridge = (() => {
  "use strict";

  // The bridge may be absent or hung: every call to it is bounded in time.
  async function fetchWithTimeout(url, options, timeoutMs) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeoutMs);
    try {
      return await fetch(url, { ...options, signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
  }

  // An answer that is not JSON (a proxy's error page, an empty body) reads as no data.
  async function readJson(response) {
    try {
      return await response.json();
    } catch (error) {
      return {};
    }
  }

  const LIST_TIMEOUT_MS = 5000;

  const TEXT = {
    bridgeDown: (url) => `Le pont de clé USB (token bridge) ne répond pas sur ${url}. ` +
      "Démarrez-le sur ce poste avec : python -m token_bridge",
    bridgeFailed: "Le pont de clés USB a refusé l'opération.",
    serverDown: "Le serveur RA Desk ne répond pas. Vérifiez votre connexion réseau puis réessayez.",
    serverError: "Le serveur n'a pas pu traiter la demande. Réessayez dans un instant.",
    pageExpired: "La page a expiré : rechargez-la puis réessayez.",
  };

  // Default wording of the chooser; a page may change any of it.
  const CHOOSER_TEXT = {
    searching: "Recherche des clés USB…",
    noKeyOption: "Aucune clé détectée",
    noKey: "Aucune clé USB détectée. Insérez votre clé puis cliquez sur « Actualiser ».",
    keysFound: (count) => (count === 1 ? "1 clé USB détectée." : `${count} clés USB détectées.`),
  };

  // A failure the page shows as is: its French message, a code for the server's audit, and
  // whatever else is known (the bridge's answer, whether the server already recorded it).
  class Problem extends Error {
    constructor(message, code, details = {}) {
      super(message);
      this.code = code;
      Object.assign(this, details);
    }
  }

  // One call to the bridge, bounded in time (it may be absent or hung). A refusal carries the
  // bridge's own French message, its error code and its whole answer (tries_left…).
  async function callBridge(bridgeUrl, path, { body, timeoutMs = LIST_TIMEOUT_MS,
                                               failed = TEXT.bridgeFailed } = {}) {
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
      throw new Problem(TEXT.bridgeDown(bridgeUrl), "bridge_unavailable");
    }
    const data = await readJson(response);
    if (!response.ok) {
      throw new Problem(data.message || failed, data.error || "bridge_error", { answer: data });
    }
    return data;
  }

  // A JSON POST to the RA Desk server with the page's CSRF token. A refusal carries the
  // server's message and fromServer: the server has already recorded it.
  async function callServer(url, body = {}, { serverError = TEXT.serverError } = {}) {
    const csrf = document.querySelector('meta[name="csrf-token"]');
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRFToken": csrf ? csrf.content : "",
        },
        body: JSON.stringify(body),
      });
    } catch (error) {
      throw new Problem(TEXT.serverDown, "server_unavailable");
    }
    const data = await readJson(response);
    if (response.ok) return data;
    const message = data.message || (response.status === 400 ? TEXT.pageExpired : serverError);
    throw new Problem(message, data.code || "server_refused", { fromServer: true });
  }

  // The page's live region: show(text, kind) with kind "info", "warning", "error", "success".
  function messageLine(element) {
    return (text, kind) => {
      element.textContent = text;
      element.className = `login-message ${text ? kind : ""}`.trim();
    };
  }

  // The holder's name from a key's certificate: a minimal DER walk to the subject's
  // commonName. Anything unexpected just gives "".
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

  // The key chooser: the bridge's keys in ``select``, listed again on « Actualiser ».
  //   keep(token)        which keys to offer (all by default)
  //   order(a, b)        their order (the bridge's by default); an unlocked key is preselected
  //   label(token)       an option's text
  //   describe(token)    [text, kind] said of the chosen key, or null: the count of keys
  //   onListed(list, problem)  after each listing: the keys offered, or why there are none
  //   setBusy, isBusy    the page's busy state, set while listing
  function keyChooser({ select, refreshButton, bridgeUrl, show, setBusy, isBusy, texts = {},
                        keep = () => true, order = null, label, describe = null,
                        onListed = () => {} }) {
    const words = { ...CHOOSER_TEXT, ...texts };
    let tokens = new Map();
    let problem = null; // why the last listing offered no key

    function fill(list) {
      const previous = select.value;
      tokens = new Map(list.map((token) => [token.serial, token]));
      select.replaceChildren();
      if (list.length === 0) {
        select.append(new Option(words.noKeyOption, ""));
        return;
      }
      for (const token of list) select.append(new Option(label(token), token.serial));
      const usable = list.find((token) => token.pin_state !== "locked") || list[0];
      select.value = tokens.has(previous) ? previous : usable.serial;
    }

    function describeSelected() {
      const token = tokens.get(select.value);
      if (token) show(...((describe && describe(token)) || [words.keysFound(tokens.size), "info"]));
    }

    // ``quiet``: the message line keeps what it says (an error the user must still read).
    async function refresh({ quiet = false } = {}) {
      setBusy(true);
      problem = null;
      if (!quiet) show(words.searching, "info");
      let list = [];
      try {
        const data = await callBridge(bridgeUrl, "/v1/tokens");
        list = (Array.isArray(data.tokens) ? data.tokens : []).filter(keep);
        if (order) list.sort(order);
        if (list.length === 0) problem = new Problem(words.noKey, "no_key");
      } catch (error) {
        problem = error instanceof Problem ? error : new Problem(TEXT.bridgeFailed, "bridge_error");
      } finally {
        fill(list);
        setBusy(false);
      }
      if (!quiet) {
        if (problem) show(problem.message, "error");
        else describeSelected();
      }
      onListed(list, problem);
      return list;
    }

    refreshButton.addEventListener("click", () => {
      if (!isBusy()) refresh();
    });
    if (describe) select.addEventListener("change", describeSelected);

    return {
      refresh,
      // The chosen key (undefined when none), how many are offered, why none is.
      selected: () => tokens.get(select.value),
      get size() { return tokens.size; },
      whyNone: () => (problem ? problem.message : words.noKey),
      // The chosen key changed (its PIN got locked…): its option says so.
      relabel(token) {
        const option = [...select.options].find((item) => item.value === token.serial);
        if (option) option.text = label(token);
      },
      focus: () => select.focus(),
    };
  }

  // A page that talks to the bridge. Its elements are named after ``prefix``: "<prefix>-form"
  // (data-bridge-url), "-key" and "-refresh" (the chooser), "-message", "-pin", "-submit".
  class BridgePage {
    constructor(prefix, form, { busyButtons = [], serverError = TEXT.serverError } = {}) {
      this.prefix = prefix;
      this.form = form;
      this.bridgeUrl = form.dataset.bridgeUrl.replace(/\/+$/, "");
      this.show = messageLine(this.element("message"));
      this.pin = this.element("pin");
      this.serverError = serverError;
      this.busyButtons = [this.element("submit"), ...busyButtons];
      this.busy = false;
      this.chooser = null;
    }

    element(name) {
      return document.getElementById(`${this.prefix}-${name}`);
    }

    setBusy(value) {
      this.busy = value;
      // Only these buttons: disabling « Actualiser » would drop the keyboard focus.
      for (const button of this.busyButtons) button.disabled = value;
      this.form.setAttribute("aria-busy", value ? "true" : "false");
    }

    // The page's key chooser (options: see keyChooser).
    keyChooser(options) {
      this.chooser = keyChooser({
        select: this.element("key"), refreshButton: this.element("refresh"),
        bridgeUrl: this.bridgeUrl, show: this.show,
        setBusy: (value) => this.setBusy(value), isBusy: () => this.busy, ...options,
      });
      return this.chooser;
    }

    post(url, body = {}) {
      return callServer(url, body, { serverError: this.serverError });
    }

    // What a failure says: its own French message, or the page's word for the unexpected.
    say(problem) {
      this.show(problem instanceof Problem ? problem.message : this.serverError, "error");
    }

    // The form's one gesture. Without a chosen key, or when ``check(token)`` refuses (having
    // said why), nothing happens. Otherwise the PIN fields are emptied (after every try,
    // whatever its outcome), ``working`` is shown and ``run(token, pin)`` runs busy; a failure
    // is said, the page is free again and the PIN field has the focus.
    onTry({ chooseKey, check, working, run, alsoClear = [] }) {
      this.form.addEventListener("submit", async (event) => {
        event.preventDefault();
        if (this.busy) return;
        const token = this.chooser.selected();
        if (!token) {
          this.show(this.chooser.size ? chooseKey : this.chooser.whyNone(), "error");
          this.chooser.focus();
          return;
        }
        if (!check(token)) return;
        const pin = this.pin.value;
        for (const field of [this.pin, ...alsoClear]) field.value = "";
        this.setBusy(true);
        this.show(working, "info");
        try {
          await run(token, pin);
        } catch (problem) {
          this.say(problem);
          this.setBusy(false);
          this.pin.focus();
        }
      });
    }
  }

  // The bridge page named ``prefix``, or null when this page has none of its form.
  function page(prefix, options) {
    const form = document.getElementById(`${prefix}-form`);
    return form ? new BridgePage(prefix, form, options) : null;
  }

  return { Problem, callBridge, callServer, holderName, page };
})();
