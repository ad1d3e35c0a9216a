// package.json as VS Code shows it: its `%key%` placeholders replaced from package.nls.json (the
// English strings), as the workbench does when it reads the manifest without a language pack.
import { readFileSync } from "node:fs";
import { join } from "node:path";

const root = join(__dirname, "..", "..");

/** The manifest's text as committed (placeholders and all). */
export const rawManifest = (): unknown => JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
/** package.nls.json: key -> English string. */
export const nlsStrings = (): Record<string, string> => JSON.parse(readFileSync(join(root, "package.nls.json"), "utf8")) as Record<string, string>;

/** Every `%key%` string value of the manifest, wherever it is. */
export function nlsKeysUsed(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") {
    const m = /^%([^%\s]+)%$/.exec(value);
    if (m) out.push(m[1]!);
  } else if (Array.isArray(value)) for (const v of value) nlsKeysUsed(v, out);
  else if (value && typeof value === "object") for (const v of Object.values(value)) nlsKeysUsed(v, out);
  return out;
}

function localize(value: unknown, nls: Record<string, string>): unknown {
  if (typeof value === "string") {
    const m = /^%([^%\s]+)%$/.exec(value);
    return m && nls[m[1]!] !== undefined ? nls[m[1]!] : value;
  }
  if (Array.isArray(value)) return value.map((v) => localize(v, nls));
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, localize(v, nls)]));
  return value;
}

/** package.json with its English strings in place. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the manifest is JSON walked generically; a test that reads a part names its type (manifest<T>())
export function manifest<T = any>(): T {
  return localize(rawManifest(), nlsStrings()) as T;
}
