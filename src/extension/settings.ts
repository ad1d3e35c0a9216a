/**
 * The extension's settings (contributes.configuration, `passthrough.*`), typed: one table of
 * defaults and bounds that package.json's schema is checked against (test/unit/settings.test.ts),
 * and a reader that never hands the code a value the schema forbids (a hand-edited settings.json
 * can hold anything: a string for a number, a negative delay).
 */
import type { ConfigKey } from "./contributions.js";

export interface Settings {
  radix: "hex" | "dec";
  rerunDelay: number;
  settleDelay: number;
  engineTimeout: number;
  /** MiB one scenario's run may hold (trace, checkpoints, simulated memory); trace/budget.ts DEFAULT_MEMORY_BUDGET is the most. */
  memoryLimit: number;
  /** Milliseconds a run may take before its progress notification (with Cancel) appears. */
  progressDelay: number;
}

type NumberSpec = { type: "number"; default: number; minimum: number; maximum?: number };
type EnumSpec<T extends string> = { type: "string"; enum: readonly T[]; default: T };

/** What package.json declares for each key (held to it by a test). */
export const SETTINGS: { [K in ConfigKey]: Settings[K] extends number ? NumberSpec : EnumSpec<Extract<Settings[K], string>> } = {
  radix: { type: "string", enum: ["hex", "dec"], default: "hex" },
  rerunDelay: { type: "number", default: 5, minimum: 0, maximum: 2000 },
  settleDelay: { type: "number", default: 400, minimum: 0, maximum: 5000 },
  engineTimeout: { type: "number", default: 20000, minimum: 1000 },
  memoryLimit: { type: "number", default: 1536, minimum: 16, maximum: 1536 },
  progressDelay: { type: "number", default: 1500, minimum: 0, maximum: 60000 },
};

/** The subset of vscode.WorkspaceConfiguration the reader needs. */
export interface ConfigSource {
  get(key: string): unknown;
}

/** One setting, as the schema allows it: the default for a value of the wrong type, numbers clamped to the bounds. */
export function readSetting<K extends ConfigKey>(config: ConfigSource, key: K): Settings[K] {
  const spec = SETTINGS[key];
  const v = config.get(key);
  if (spec.type === "number") {
    if (typeof v !== "number" || !Number.isFinite(v)) return spec.default as Settings[K];
    return Math.min(spec.maximum ?? Infinity, Math.max(spec.minimum, v)) as Settings[K];
  }
  return ((spec.enum as readonly unknown[]).includes(v) ? v : spec.default) as Settings[K];
}
