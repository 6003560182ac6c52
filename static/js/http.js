// Small fetch helpers shared by the pages that talk to the token bridge (login, generation,
// activation). Loaded before them; no inline script anywhere (the CSP forbids it).
window.RADeskHttp = (() => {
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

  return { fetchWithTimeout, readJson };
})();
