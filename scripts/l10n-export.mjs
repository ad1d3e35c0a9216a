#!/usr/bin/env node
// Writes l10n/bundle.l10n.json: every string the code passes to `vscode.l10n.t` (host) or
// `l10n.t` (@vscode/l10n: the debug adapter, the modules testable without vscode, the DMA Trace
// webview), as message -> message, the file a translator copies to bundle.l10n.<lang>.json.
// The same extraction as `npx @vscode/l10n-dev export`, without the dependency (its parser pulls
// in TypeScript and 100 packages): the first argument of a t() call is a string literal ("...",
// '...' or a template without ${}); the { message, comment } form gives the key "message/comment".
// test/unit/l10n.test.ts checks that the committed bundle is what this makes from the sources.
//
//   node scripts/l10n-export.mjs          write l10n/bundle.l10n.json
//   node scripts/l10n-export.mjs --check  exit 1 if the committed bundle is stale
import { readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from "node:fs";
import { join, relative, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The folders whose code shows strings to the user through the bundle (src/engine and src/scenario: hovers, diagnostics and quick fixes, in the worker). */
export const L10N_SOURCES = ["src/extension", "src/debug", "media/trace", "src/engine", "src/scenario"];
export const BUNDLE = "l10n/bundle.l10n.json";

function files(dir) {
  return readdirSync(dir)
    .sort()
    .flatMap((e) => {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) return files(p);
      return /\.(ts|mts|js|mjs)$/.test(e) && !e.endsWith(".d.ts") ? [p] : [];
    });
}

/** A JS string literal starting at text[i] (a quote): its value and the index after it, or undefined. */
function literal(text, i) {
  const q = text[i];
  if (q !== '"' && q !== "'" && q !== "`") return undefined;
  let out = "";
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === q) return { value: out, end: j + 1 };
    if (q === "`" && c === "$" && text[j + 1] === "{") return undefined; // a template with expressions: not a message
    if (c === "\n" && q !== "`") return undefined;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const n = text[++j];
    const simple = { n: "\n", r: "\r", t: "\t", b: "\b", f: "\f", v: "\v", 0: "\0" };
    if (n in simple) out += simple[n];
    else if (n === "u") {
      const m = /^\{([0-9a-fA-F]+)\}|^([0-9a-fA-F]{4})/.exec(text.slice(j + 1));
      if (!m) return undefined;
      out += String.fromCodePoint(parseInt(m[1] ?? m[2], 16));
      j += m[0].length;
    } else if (n === "x") {
      out += String.fromCharCode(parseInt(text.slice(j + 1, j + 3), 16));
      j += 2;
    } else if (n === "\n") {
      // a line continuation
    } else out += n;
  }
  return undefined;
}

const skipSpace = (text, i) => {
  while (i < text.length && /\s/.test(text[i])) i++;
  return i;
};

/**
 * The messages of one file's t() calls, and the calls whose message is not a literal (they could
 * not be translated: the test reports them).
 */
export function extractFrom(text) {
  const messages = [];
  const dynamic = [];
  const call = /\bl10n\.t\(/g;
  for (let m; (m = call.exec(text)); ) {
    const i = skipSpace(text, m.index + m[0].length);
    const line = text.slice(0, m.index).split("\n").length;
    if (text[i] === "{") {
      // { message: "...", comment: "..." | [...] }
      const msg = /\bmessage\s*:\s*/.exec(text.slice(i, i + 400));
      const lit = msg ? literal(text, i + msg.index + msg[0].length) : undefined;
      if (!lit) {
        dynamic.push(line);
        continue;
      }
      const com = /\bcomment\s*:\s*/.exec(text.slice(i, i + 800));
      let comment = "";
      if (com) {
        let k = i + com.index + com[0].length;
        if (text[k] === "[") {
          k = skipSpace(text, k + 1);
          for (let c; (c = literal(text, k)); ) {
            comment += c.value;
            k = skipSpace(text, c.end);
            if (text[k] === ",") k = skipSpace(text, k + 1);
          }
        } else comment = literal(text, k)?.value ?? "";
      }
      messages.push(comment ? { key: `${lit.value}/${comment}`, value: { message: lit.value, comment: [comment] } } : { key: lit.value, value: lit.value });
      continue;
    }
    const lit = literal(text, i);
    if (!lit) dynamic.push(line);
    else messages.push({ key: lit.value, value: lit.value });
  }
  return { messages, dynamic };
}

/** The bundle the sources make, and where a t() call has no literal message ("file:line"). */
export function extract(base = root) {
  const bundle = {};
  const dynamic = [];
  for (const dir of L10N_SOURCES) {
    for (const f of files(join(base, dir))) {
      const r = extractFrom(readFileSync(f, "utf8"));
      for (const { key, value } of r.messages) bundle[key] ??= value;
      for (const line of r.dynamic) dynamic.push(`${relative(base, f)}:${line}`);
    }
  }
  const sorted = Object.fromEntries(Object.keys(bundle).sort().map((k) => [k, bundle[k]]));
  return { bundle: sorted, dynamic };
}

export const serialize = (bundle) => `${JSON.stringify(bundle, null, 2)}\n`;

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { bundle, dynamic } = extract();
  if (dynamic.length) {
    console.error(`l10n.t() without a literal message (cannot be translated): ${dynamic.join(", ")}`);
    process.exit(1);
  }
  const out = join(root, BUNDLE);
  if (process.argv.includes("--check")) {
    let old = "";
    try {
      old = readFileSync(out, "utf8");
    } catch {
      // missing: stale
    }
    if (old !== serialize(bundle)) {
      console.error(`${BUNDLE} is stale: run node scripts/l10n-export.mjs`);
      process.exit(1);
    }
  } else {
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, serialize(bundle));
    console.log(`${BUNDLE}: ${Object.keys(bundle).length} strings`);
  }
}
