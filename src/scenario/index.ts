/** The scenario layer's entry point: text -> typed Scenario + diagnostics. Never throws. */
import { parseScenario as parseOnly } from "./parse.js";
import type { ParseResult } from "./types.js";
import { validateScenario } from "./validate.js";

export type * from "./types.js";
export { STEP_OPS } from "./parse.js";

export function parseScenario(text: string, file: string, opts?: { progress?: () => void }): ParseResult {
  const parsed = parseOnly(text, file, opts);
  if (parsed.scenario === undefined) return parsed;
  const semantic = validateScenario(parsed.scenario);
  const diagnostics = [...parsed.diagnostics, ...semantic];
  if (semantic.some((d) => d.severity === "error")) return { diagnostics };
  return { scenario: parsed.scenario, diagnostics };
}
