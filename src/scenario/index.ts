/** The scenario layer's entry point: text -> typed Scenario + diagnostics. Never throws. */
import { parseScenario as parseOnly, type ParseOptions } from "./parse.js";
import type { ParseResult } from "./types.js";
import { validateScenario } from "./validate.js";

export type * from "./types.js";
export { STEP_OPS, PROGRESS_EVERY, type ParseOptions } from "./parse.js";

/** `opts.progress` is called every PROGRESS_EVERY lines, nodes and steps while parsing and validating. */
export function parseScenario(text: string, file: string, opts: ParseOptions = {}): ParseResult {
  const parsed = parseOnly(text, file, opts);
  if (parsed.scenario === undefined) return parsed;
  const semantic = validateScenario(parsed.scenario, opts);
  const diagnostics = [...parsed.diagnostics, ...semantic];
  if (semantic.some((d) => d.severity === "error")) return { diagnostics };
  return { scenario: parsed.scenario, diagnostics };
}
