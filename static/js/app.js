// Shared behaviour for every page. No inline script anywhere: the CSP forbids it.
document.addEventListener("htmx:configRequest", (event) => {
  // The CSRF token travels in a header for HTMX requests too (also set by hx-headers).
  const meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) event.detail.headers["X-CSRFToken"] = meta.content;
  // Empty filters stay out of GET URLs, so pushed and bookmarked URLs stay readable.
  if (event.detail.verb === "get") {
    const data = event.detail.formData;
    for (const key of Array.from(data.keys())) {
      if (data.get(key) === "") data.delete(key);
    }
  }
});
