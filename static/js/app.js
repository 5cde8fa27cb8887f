// Staff screens: small progressive enhancements. No inline scripts anywhere, so a strict
// Content-Security-Policy stays possible.
document.addEventListener("htmx:responseError", (event) => {
  const status = event.detail.xhr.status;
  window.alert(status >= 500 ? "Something went wrong on our side; it has been logged." : "That did not work: " + status);
});

// === Cases: keyboard shortcuts for the queues and the case detail (exceptions app) ======
// j/k move through the queue, Enter opens, x selects, a assigns to me, r resolves,
// / jumps to the filters. Keys are ignored while typing in a field.
(() => {
  const typing = (element) => Boolean(element) && (element.isContentEditable ||
    ["SELECT", "TEXTAREA"].includes(element.tagName) ||
    (element.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(element.type)));
  const rows = () => Array.from(document.querySelectorAll("[data-case-row]"));
  let current = -1;

  const move = (step) => {
    const all = rows();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, current + step));
    all.forEach((row, index) => row.classList.toggle("is-current", index === current));
    const link = all[current].querySelector(".case-link");
    if (link) link.focus({ preventScroll: true });
    all[current].scrollIntoView({ block: "nearest" });
  };
  const currentRow = () => rows()[current] || null;

  // After htmx swaps the results (filters, a taken row), keep the highlight in range.
  document.addEventListener("htmx:afterSwap", () => {
    const all = rows();
    if (current >= all.length) current = all.length - 1;
    if (current >= 0 && all[current]) all[current].classList.add("is-current");
  });

  const focusResolve = () => {
    const select = document.getElementById("id_root_cause");
    if (!select) return false;
    select.scrollIntoView({ block: "center" });
    select.focus();
    return true;
  };
  // Opened with #resolve (the r shortcut from a queue): start at the root cause. After
  // "load", because the browser's own scroll to the fragment comes after DOMContentLoaded.
  if (window.location.hash === "#resolve") {
    window.addEventListener("load", focusResolve);
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && typing(document.activeElement)) {
      document.activeElement.blur();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const inQueue = document.querySelector("[data-case-queue]") !== null;
    const row = currentRow();
    switch (event.key) {
      case "j":
        if (inQueue) { move(1); event.preventDefault(); }
        break;
      case "k":
        if (inQueue) { move(current < 0 ? 1 : -1); event.preventDefault(); }
        break;
      case "/": {
        const filter = document.getElementById("filter-kind");
        if (filter) { filter.focus(); event.preventDefault(); }
        break;
      }
      case "x": {
        const box = row && row.querySelector("input[type=checkbox]");
        if (box) { box.checked = !box.checked; event.preventDefault(); }
        break;
      }
      case "a": {
        const take = inQueue ? row && row.querySelector("[data-take]") : document.getElementById("assign-me");
        if (take && !take.disabled) { take.click(); event.preventDefault(); }
        break;
      }
      case "r": {
        if (focusResolve()) { event.preventDefault(); break; }
        const link = row && row.querySelector(".case-link");
        if (link) { window.location.assign(link.getAttribute("href") + "#resolve"); event.preventDefault(); }
        break;
      }
      default:
        break;
    }
  });
})();
// === end Cases ==========================================================================

// === Reconciliation review: a run's lines (reconciliation app) ===========================
// j/k move through the lines, Enter explains the current one, x selects it, / jumps to the
// filters; the header box selects every decidable line on the page; the bulk bar counts.
(() => {
  const table = document.querySelector("[data-recon-lines]");
  if (!table) return;
  const typing = (element) => Boolean(element) && (element.isContentEditable ||
    ["SELECT", "TEXTAREA"].includes(element.tagName) ||
    (element.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(element.type)));
  const rows = Array.from(table.querySelectorAll("[data-recon-row]"));
  const boxes = () => Array.from(table.querySelectorAll("input[name=line]"));
  const counter = document.querySelector("[data-selected-count]");
  const count = () => {
    if (!counter) return;
    const chosen = boxes().filter((box) => box.checked).length;
    counter.textContent = chosen ? `(${chosen} chosen)` : "(none chosen)";
  };
  const all = table.querySelector("[data-select-all]");
  if (all) {
    all.addEventListener("change", () => {
      boxes().forEach((box) => { box.checked = all.checked; });
      count();
    });
  }
  table.addEventListener("change", (event) => {
    if (event.target.name === "line") count();
  });
  count();

  let current = -1;
  const move = (step) => {
    if (!rows.length) return;
    current = Math.max(0, Math.min(rows.length - 1, current + step));
    rows.forEach((row, index) => row.classList.toggle("is-current", index === current));
    const link = rows[current].querySelector(".recon-line-link");
    if (link) link.focus({ preventScroll: true });
    rows[current].scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    if (event.key === "j") { move(1); event.preventDefault(); }
    else if (event.key === "k") { move(current < 0 ? 1 : -1); event.preventDefault(); }
    else if (event.key === "x" && current >= 0) {
      const box = rows[current].querySelector("input[name=line]");
      if (box) { box.checked = !box.checked; count(); event.preventDefault(); }
    } else if (event.key === "/") {
      const filter = document.getElementById("id_classification");
      if (filter) { filter.focus(); event.preventDefault(); }
    }
  });
})();
// === end Reconciliation review ============================================================
