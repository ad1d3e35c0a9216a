#!/usr/bin/env node
// `npm run bench:decode`: writes a 100 MB mixed kernel log (noise with every kind of IOMMU record
// sprinkled in), then times `passthrough decode --json` on it (streamed) and reads its peak RSS
// from /proc. Prints one JSON line. Measurement only.
import { createWriteStream, mkdtempSync, rmSync, statSync, readFileSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const target = Number(process.argv[2] ?? 100) * 2 ** 20;
const dir = mkdtempSync(join(tmpdir(), "decode-bench-"));
const file = join(dir, "mixed.log");
const sample = readFileSync(join(root, "test/fixtures/evidence/mixed-dmesg.txt"), "utf8").split("\n");
const noise = ["e1000e 0000:00:1f.6 eno1: NIC Link is Up 1000 Mbps Full Duplex, Flow Control: Rx/Tx", "usb 1-1: new high-speed USB device number 2 using xhci_hcd", "EXT4-fs (nvme0n1p2): mounted filesystem with ordered data mode. Quota mode: none.", "audit: type=1400 audit(1700000000.000:42): apparmor=\"STATUS\" operation=\"profile_load\""];
const out = createWriteStream(file);
let written = 0;
let t = 0;
let records = 0;
while (written < target) {
  const chunk = [];
  for (let i = 0; i < 1000; i++) {
    t += 0.000137;
    chunk.push(`[${t.toFixed(6).padStart(12)}] ${noise[i % noise.length]}`);
  }
  chunk.push(...sample.filter(Boolean));
  records += 14;
  const s = chunk.join("\n") + "\n";
  written += Buffer.byteLength(s);
  if (!out.write(s)) await new Promise((ok) => out.once("drain", ok));
}
await new Promise((ok) => out.end(ok));
const size = statSync(file).size;
const runs = [];
for (let r = 0; r < 3; r++) {
  const t0 = process.hrtime.bigint();
  const child = spawn(process.execPath, [join(root, "dist/cli.mjs"), "decode", file, "--json"], { stdio: ["ignore", "ignore", "inherit"] });
  let peak = 0;
  const poll = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {}
  }, 20);
  const code = await new Promise((ok) => child.on("exit", ok));
  clearInterval(poll);
  runs.push({ seconds: +(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(2), peak_rss_mb: +(peak / 1024).toFixed(0), exit: code });
}
rmSync(dir, { recursive: true, force: true });
console.log(JSON.stringify({ bytes: size, records_expected: records, runs }));
