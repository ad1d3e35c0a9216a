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
  // config.theme: the colour variables VS Code sets for its Dark Modern / Light Modern themes (the
  // ones trace.css uses), and the body class, for screenshots and layout checks in both themes.
  const THEMES = {
    dark: { "foreground": "#cccccc", "editor-background": "#1f1f1f", "descriptionForeground": "#9d9d9d", "icon-foreground": "#cccccc", "focusBorder": "#0078d4", "input-background": "#313131", "input-foreground": "#cccccc", "input-border": "#3c3c3c", "input-placeholderForeground": "#989898", "dropdown-background": "#313131", "dropdown-foreground": "#cccccc", "dropdown-border": "#3c3c3c", "button-secondaryBackground": "#313131", "button-secondaryForeground": "#cccccc", "button-secondaryHoverBackground": "#3c3c3c", "button-border": "#ffffff12", "toolbar-hoverBackground": "#5a5d5e50", "toolbar-activeBackground": "#63666750", "panel-border": "#2b2b2b", "list-hoverBackground": "#2a2d2e", "list-activeSelectionBackground": "#04395e", "list-activeSelectionForeground": "#ffffff", "errorForeground": "#f85149", "testing-iconPassed": "#73c991", "charts-blue": "#3794ff", "charts-green": "#89d185", "charts-purple": "#b180d7", "charts-red": "#f14c4c", "charts-yellow": "#cca700", "gitDecoration-addedResourceForeground": "#81b88b", "gitDecoration-modifiedResourceForeground": "#e2c08d", "gitDecoration-deletedResourceForeground": "#c74e39", "sash-hoverBorder": "#0078d4", "checkbox-background": "#313131" },
    light: { "foreground": "#3b3b3b", "editor-background": "#ffffff", "descriptionForeground": "#3b3b3b", "icon-foreground": "#3b3b3b", "focusBorder": "#005fb8", "input-background": "#ffffff", "input-foreground": "#3b3b3b", "input-border": "#cecece", "input-placeholderForeground": "#767676", "dropdown-background": "#ffffff", "dropdown-foreground": "#3b3b3b", "dropdown-border": "#cecece", "button-secondaryBackground": "#e5e5e5", "button-secondaryForeground": "#3b3b3b", "button-secondaryHoverBackground": "#cccccc", "button-border": "#0000001a", "toolbar-hoverBackground": "#b8b8b850", "toolbar-activeBackground": "#a6a6a650", "panel-border": "#e5e5e5", "list-hoverBackground": "#f2f2f2", "list-activeSelectionBackground": "#e8e8e8", "list-activeSelectionForeground": "#000000", "errorForeground": "#f85149", "testing-iconPassed": "#388a34", "charts-blue": "#1a85ff", "charts-green": "#388a34", "charts-purple": "#652d90", "charts-red": "#e51400", "charts-yellow": "#bf8803", "gitDecoration-addedResourceForeground": "#587c0c", "gitDecoration-modifiedResourceForeground": "#895503", "gitDecoration-deletedResourceForeground": "#ad0707", "sash-hoverBorder": "#005fb8", "checkbox-background": "#f8f8f8" },
  };
  if (cfg.theme && THEMES[cfg.theme]) {
    for (const [k, v] of Object.entries(THEMES[cfg.theme])) root.setProperty(`--vscode-${k}`, v);
    document.addEventListener("DOMContentLoaded", () => document.body.classList.add(`vscode-${cfg.theme}`));
  }
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
          window.postMessage({ type: "run", uri: cfg.uri || "file:///w/perf.passthrough.yaml", file: cfg.file || "perf.passthrough.yaml", runVersion: 1, stale: false, step: 0, steps: cfg.steps || [] }, "*");
        });
      } else if (m.type === "request") {
        // Answered in a later task, as the real host does: VS Code's postMessage returns at once
        // and the answer is computed in the extension's worker, off the webview's thread. (Computed
        // here inside the webview's postMessage call, a page or the timeline was counted in the
        // webview's render frame or startup task.)
        // config.hold: methods whose requests stay unanswered (a slow worker), to watch cancellation.
        if ((window.__config.hold || []).includes(m.method)) return;
        setTimeout(() => {
          const h = handlers[m.method];
          // config.failMethods: requests of these methods fail as while the worker is dead, until the test sets window.__healed.
          if (cfg.failMethods && cfg.failMethods.includes(m.method) && !window.__healed) {
            (window.__failed ||= new Set()).add(m.method);
            window.postMessage({ type: "reply", id: m.id, ok: false, error: { code: "restarted", message: "the simulation worker exited with code 7" } }, "*");
            return;
          }
          const reply = h ? { type: "reply", id: m.id, ok: true, result: h(m.params) } : { type: "reply", id: m.id, ok: false, error: { code: "bad-params", message: "unknown" } };
          window.postMessage(reply, "*");
        });
      }
    },
    getState: () => state,
    setState: (s) => { state = s; },
  });
})();
