#!/usr/bin/env node
// Runs the demo's cleanup test (test/e2e/harness/demo-cleanup.test.mjs, node:test) and writes
// test-results/demo.json ({passed, failed, skipped}) for the closing summary line of `npm test`.
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
mkdirSync(join(root, "test-results"), { recursive: true });
const r = spawnSync(process.execPath, ["--test", "--test-reporter=tap", join(root, "test/e2e/harness/demo-cleanup.test.mjs")], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
process.stdout.write(r.stdout ?? "");
const count = (name) => Number(new RegExp(`^# ${name} (\\d+)$`, "m").exec(r.stdout ?? "")?.[1] ?? 0);
const result = { passed: count("pass"), failed: count("fail") + count("cancelled"), skipped: count("skipped") + count("todo") };
if (r.status !== 0 && result.failed === 0) result.failed = 1; // the runner itself failed
writeFileSync(join(root, "test-results/demo.json"), JSON.stringify(result));
console.log(`demo: ${result.passed} passed, ${result.failed} failed`);
process.exit(r.status === 0 ? 0 : 1);
