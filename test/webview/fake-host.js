// A stand-in for VS Code's webview host, loaded before dist/webview.js: acquireVsCodeApi() and a
// synthetic trace of window.__config.events events (fake-trace.js) answered in the page itself (no round trip to
// the test process, so timings measure the webview). Records what the webview posts. With
// window.__config.compare, a previous run exists and compare-mode pages carry diff marks.
(() => {
  // The font variables VS Code sets on a webview's <html> (its defaults on Linux), so that rows are
  // laid out in a monospace editor font as in VS Code, not in the browser's default serif font.
  const root = document.documentElement.style;
  root.setProperty("--vscode-font-family", "system-ui, Ubuntu, \"Droid Sans\", sans-serif");
  root.setProperty("--vscode-font-size", "13px");
  root.setProperty("--vscode-editor-font-family", "\"Droid Sans Mono\", \"monospace\", monospace");
  root.setProperty("--vscode-editor-font-size", "14px");
  // The trace and its answers: fake-trace.js, run just before this script.
  const { cfg, handlers } = fakeTrace(window.__config);
  const posted = [];
  window.__posted = posted;
  window.__violations = [];
  // First data row on screen, for the benchmark (performance.now() since navigation start).
  new MutationObserver((_, obs) => {
    if (document.querySelector(".row.r-hit, .row.r-walk, .row.r-fault")) {
      window.__firstRow = performance.now();
      obs.disconnect();
      // For the benchmark, which waits for this line instead of polling the page (a poll runs
      // Playwright's script in the page while it loads).
      console.debug("first-row");
    }
  }).observe(document.documentElement, { subtree: true, childList: true, attributes: true, attributeFilter: ["class"] });
  document.addEventListener("securitypolicyviolation", (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
  let state = cfg.initialState;
  window.__state = () => state;
  window.acquireVsCodeApi = () => ({
    postMessage(m) {
      posted.push(m);
      (window.__times ||= []).push([m.type + (m.method ? ":" + m.method : ""), Math.round(performance.now())]);
      if (m.type === "ready") {
        // config.runFromDocumentOnly: the host's messages after "ready" never come; the webview
        // has only the run written into its document.
        if (cfg.runFromDocumentOnly) return;
        setTimeout(() => {
          window.postMessage({ type: "radix", radix: "hex" }, "*");
          window.postMessage({ type: "run", uri: cfg.uri || "file:///w/perf.passthrough.yaml", file: cfg.file || "perf.passthrough.yaml", runVersion: 1, stale: false, step: 0, steps: [] }, "*");
        });
      } else if (m.type === "request") {
        // Answered in a later task, as the real host does: VS Code's postMessage returns at once
        // and the answer is computed in the extension's worker, off the webview's thread. (Computed
        // here inside the webview's postMessage call, a page or the timeline was counted in the
        // webview's render frame or startup task.)
        setTimeout(() => {
          const h = handlers[m.method];
          const reply = h ? { type: "reply", req: m.req, ok: true, result: h(m.params) } : { type: "reply", req: m.req, ok: false, error: "unknown" };
          window.postMessage(reply, "*");
        });
      }
    },
    getState: () => state,
    setState: (s) => { state = s; },
  });
})();
