// Test entry loaded in the extension host (code-server here, @vscode/test-electron on a desktop):
// exports run() as @vscode/test-electron expects. Mocha comes from E2E_TOOLS (installed by
// test/e2e/harness/setup.sh) or from the project's node_modules on a desktop run.
const path = require("path");
let Mocha;
try {
  Mocha = require(path.join(process.env.E2E_TOOLS || "", "mocha"));
} catch {
  Mocha = require("mocha");
}

exports.run = () =>
  new Promise((resolve, reject) => {
    const mocha = new Mocha({ ui: "bdd", timeout: 30000, color: false, reporter: "spec", ...(process.env.E2E_GREP ? { grep: process.env.E2E_GREP } : {}) });
    mocha.addFile(path.join(__dirname, process.env.E2E_FILE || "extension.test.cjs"));
    const runner = mocha.run((failures) => {
      const s = runner.stats;
      console.log(`e2e: ${s.passes} passed, ${s.failures} failed, ${s.pending} skipped`);
      if (failures) reject(new Error(`${failures} tests failed`));
      else resolve();
    });
  });
