// Shared behaviour for every page. No inline script anywhere: the CSP forbids it.
document.addEventListener("htmx:configRequest", (event) => {
  // The CSRF token travels in a header for HTMX requests too (also set by hx-headers).
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
});
