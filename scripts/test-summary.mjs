// Prints the plain closing line CI reads ("tests: N passed, N failed, N skipped"): vitest's JSON
// report plus, when present, the end-to-end suite's (test-results/e2e.json). Exits non-zero when
// any test failed or none ran.
import { existsSync, readFileSync } from "node:fs";

const file = process.argv[2] ?? "test-results/vitest.json";
const e2eFile = process.argv[3] ?? "test-results/e2e.json";
const r = JSON.parse(readFileSync(file, "utf8"));
let passed = r.numPassedTests ?? 0;
let failed = (r.numFailedTests ?? 0) + (r.numFailedTestSuites ?? 0);
let skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
const parts = [`unit ${passed}`];
if (existsSync(e2eFile)) {
  const e = JSON.parse(readFileSync(e2eFile, "utf8"));
  passed += e.passed;
  failed += e.failed;
  skipped += e.skipped;
  parts.push(`e2e ${e.passed}`);
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped (${parts.join(", ")} passed)`);
process.exit(failed > 0 || passed === 0 ? 1 : 0);
