// Prints the plain closing line CI reads ("tests: N passed, N failed, N skipped"): vitest's JSON
// report plus the suites that write test-results/{e2e,e2e-web,webview,ui,ui-smmuv3,ui-amdvi,walkthrough,hostile,big-import,big-run,tree-shots,demo}.json. Exits non-zero when any
// test failed, a suite did not report, or none ran.
import { existsSync, readFileSync } from "node:fs";

const r = JSON.parse(readFileSync("test-results/vitest.json", "utf8"));
let passed = r.numPassedTests ?? 0;
let failed = (r.numFailedTests ?? 0) + (r.numFailedTestSuites ?? 0);
let skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
const parts = [`unit ${passed}`];
for (const suite of ["e2e", "e2e-web", "webview", "ui", "ui-smmuv3", "ui-amdvi", "walkthrough", "hostile", "big-import", "big-run", "tree-shots", "demo"]) {
  const file = `test-results/${suite}.json`;
  if (!existsSync(file)) {
    failed++;
    parts.push(`${suite}: no report`);
    continue;
  }
  const e = JSON.parse(readFileSync(file, "utf8"));
  passed += e.passed;
  failed += e.failed;
  skipped += e.skipped ?? 0;
  parts.push(`${suite} ${e.passed}`);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped (${parts.join(", ")} passed)`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
