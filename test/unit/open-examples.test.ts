// Open Example Scenarios as a user meets it, with an in-memory file system and scripted answers
// to the prompts: copies go where the user says, never into the installed extension, and an
// existing file is never overwritten without asking.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { copyExamples, describeExample, freeName, openExamples, type Conflict, type ExampleInfo, type ExamplesHost } from "../../src/extension/examples.js";

const examplesDir = join(__dirname, "..", "..", "examples");
const shipped = Object.fromEntries(readdirSync(examplesDir).map((f) => [`/ext/examples/${f}`, readFileSync(join(examplesDir, f), "utf8")]));

interface Script {
  pick?: (all: ExampleInfo[]) => ExampleInfo[] | undefined;
  destination?: "folder" | "untitled";
  folder?: string;
  conflict?: Conflict;
}

function host(files: Record<string, string>, script: Script) {
  const log = { writes: [] as string[], opened: [] as [string, boolean][], untitled: [] as [string, string, boolean][], asked: [] as string[][], messages: [] as string[] };
  const h: ExamplesHost<string> = {
    examplesDir: "/ext/examples",
    join: (d, n) => `${d}/${n}`,
    label: (u) => u,
    listDir: async (d) => Object.keys(files).filter((f) => f.startsWith(`${d}/`)).map((f) => f.slice(d.length + 1)),
    readText: async (u) => files[u]!,
    exists: async (u) => u in files,
    writeText: async (u, t) => {
      log.writes.push(u);
      files[u] = t;
    },
    pickExamples: async (all) => script.pick?.(all),
    pickDestination: async () => script.destination,
    pickFolder: async () => script.folder,
    askConflict: async (f) => {
      log.asked.push(f);
      return script.conflict;
    },
    openFile: async (u, focus) => void log.opened.push([u, focus]),
    openUntitled: async (f, t, focus) => void log.untitled.push([f, t, focus]),
    offerFolder: async (_f, m) => void log.messages.push(m),
    info: (m) => void log.messages.push(m),
  };
  return { h, log, files };
}

const byStem = (...stems: string[]) => (all: ExampleInfo[]) => all.filter((e) => stems.some((s) => e.file === `${s}.passthrough.yaml`));

describe("Open Example Scenarios", () => {
  it("offers every example with its title and a one-line summary from its comment header", async () => {
    const { h } = host({ ...shipped }, {});
    let offered: ExampleInfo[] = [];
    h.pickExamples = async (all) => {
      offered = all;
      return undefined;
    };
    expect(await openExamples(h)).toBeUndefined();
    expect(offered.map((e) => e.file)).toEqual(Object.keys(shipped).filter((f) => f.endsWith(".passthrough.yaml")).map((f) => f.split("/").pop()).sort());
    for (const e of offered) {
      expect(e.summary, e.file).toMatch(/^[A-Z0-9].+[.…]$/);
      expect(e.summary, e.file).not.toMatch(/\n|#/);
      expect(e.summary.length, e.file).toBeLessThanOrEqual(140);
      expect(e.title, e.file).not.toMatch(/passthrough\.yaml/);
    }
    const nic = offered.find((e) => e.file === "healthy-nic.passthrough.yaml")!;
    expect(nic.title).toBe("Healthy NIC passthrough");
    expect(nic.summary).toBe("A 10 GbE NIC (one function) behind a root port with ACS, bound to vfio-pci and assigned to a VM without a vIOMMU.");
  });

  it("copies the chosen examples into the picked folder and opens them, the last one focused", async () => {
    const { h, log, files } = host({ ...shipped }, { pick: byStem("healthy-nic", "stale-iotlb"), destination: "folder", folder: "/home/u/lab" });
    const r = await openExamples(h);
    expect(r?.written).toEqual(["/home/u/lab/healthy-nic.passthrough.yaml", "/home/u/lab/stale-iotlb.passthrough.yaml"]);
    expect(files["/home/u/lab/healthy-nic.passthrough.yaml"]).toBe(shipped["/ext/examples/healthy-nic.passthrough.yaml"]);
    expect(log.opened).toEqual([["/home/u/lab/healthy-nic.passthrough.yaml", false], ["/home/u/lab/stale-iotlb.passthrough.yaml", true]]);
    expect(log.asked).toEqual([]);
    expect(log.messages).toEqual(["Copied 2 examples to /home/u/lab."]);
    // The installation is never written.
    expect(log.writes.filter((w) => w.startsWith("/ext/"))).toEqual([]);
  });

  it("never overwrites silently: asks once for all existing files; Keep Both picks a free name, Skip keeps them, Cancel writes nothing", async () => {
    const mine = "# my edited copy\n";
    const existing = { "/lab/healthy-nic.passthrough.yaml": mine, "/lab/healthy-nic-2.passthrough.yaml": mine, "/lab/stale-iotlb.passthrough.yaml": mine };
    const pick = byStem("healthy-nic", "stale-iotlb", "unmapped-iova");

    const keep = host({ ...shipped, ...existing }, { pick, destination: "folder", folder: "/lab", conflict: "rename" });
    const r = await openExamples(keep.h);
    expect(keep.log.asked).toEqual([["healthy-nic.passthrough.yaml", "stale-iotlb.passthrough.yaml"]]);
    expect(r?.written).toEqual(["/lab/healthy-nic-3.passthrough.yaml", "/lab/stale-iotlb-2.passthrough.yaml", "/lab/unmapped-iova.passthrough.yaml"]);
    for (const f of Object.keys(existing)) expect(keep.files[f]).toBe(mine);

    const skip = host({ ...shipped, ...existing }, { pick, destination: "folder", folder: "/lab", conflict: "skip" });
    const s = await openExamples(skip.h);
    expect(s?.written).toEqual(["/lab/unmapped-iova.passthrough.yaml"]);
    expect(s?.skipped).toEqual(["healthy-nic.passthrough.yaml", "stale-iotlb.passthrough.yaml"]);
    expect(skip.log.messages).toEqual(["Copied 1 example to /lab (2 existing files left as they were)."]);
    for (const f of Object.keys(existing)) expect(skip.files[f]).toBe(mine);

    const cancel = host({ ...shipped, ...existing }, { pick, destination: "folder", folder: "/lab" });
    expect(await openExamples(cancel.h)).toBeUndefined();
    expect(cancel.log.writes).toEqual([]);
    expect(cancel.log.opened).toEqual([]);

    const over = host({ ...shipped, ...existing }, { pick: byStem("healthy-nic"), destination: "folder", folder: "/lab", conflict: "overwrite" });
    await openExamples(over.h);
    expect(over.files["/lab/healthy-nic.passthrough.yaml"]).toBe(shipped["/ext/examples/healthy-nic.passthrough.yaml"]);
  });

  it("without a folder: opens untitled passthrough documents and writes nothing", async () => {
    const { h, log } = host({ ...shipped }, { pick: byStem("healthy-nic", "stale-iotlb"), destination: "untitled" });
    const r = await openExamples(h);
    expect(r).toEqual({ written: [], untitled: 2, skipped: [] });
    expect(log.writes).toEqual([]);
    expect(log.untitled.map(([name, t, f]) => [name, t.split("\n")[0], f])).toEqual([
      ["healthy-nic.passthrough.yaml", "# A 10 GbE NIC (one function) behind a root port with ACS, bound to vfio-pci and assigned to a VM", false],
      ["stale-iotlb.passthrough.yaml", "# DMA after unmap, done wrong, twice.", true],
    ]);
  });

  it("cancelling any prompt does nothing", async () => {
    for (const script of [{}, { pick: () => [] }, { pick: byStem("healthy-nic") }, { pick: byStem("healthy-nic"), destination: "folder" as const }]) {
      const { h, log } = host({ ...shipped }, script);
      expect(await openExamples(h)).toBeUndefined();
      expect(log.writes).toEqual([]);
      expect(log.opened.length + log.untitled.length).toBe(0);
    }
  });

  it("arguments answer the prompts (scripts, keybindings); an unknown example is a clear error", async () => {
    const { h, log } = host({ ...shipped }, {});
    const r = await openExamples(h, { examples: ["healthy-nic", "stale-iotlb.passthrough.yaml"], folder: "/w" });
    expect(r?.written).toEqual(["/w/healthy-nic.passthrough.yaml", "/w/stale-iotlb.passthrough.yaml"]);
    expect(log.messages).toEqual(["Copied 2 examples to /w."]);
    await expect(openExamples(h, { examples: ["healthy-nick"], folder: "/w" })).rejects.toThrow(/No example named healthy-nick\.passthrough\.yaml\. Examples: (?:[\w-]+, )*beyond-address-width, bridge-multifunction, /);
  });

  it("freeName numbers from 2 and skips taken names", async () => {
    const taken = new Set(["a-2.passthrough.yaml", "a-3.passthrough.yaml"]);
    expect(await freeName("a.passthrough.yaml", async (n) => taken.has(n))).toBe("a-4.passthrough.yaml");
    expect(await freeName("notes.txt", async () => false)).toBe("notes-2.txt");
  });

  it("property: a copy never overwrites an existing file unless the user chose Overwrite, and never writes one name twice", async () => {
    const names = ["a", "b", "c", "d"].map((s) => `${s}.passthrough.yaml`);
    await fc.assert(
      fc.asyncProperty(fc.subarray(names, { minLength: 1 }), fc.subarray([...names, "a-2.passthrough.yaml", "b-2.passthrough.yaml"]), fc.constantFrom<Conflict | undefined>("rename", "skip", "overwrite", undefined), async (chosen, present, answer) => {
        const files: Record<string, string> = Object.fromEntries(present.map((n) => [`/f/${n}`, "old"]));
        const { h, log } = host(files, { conflict: answer });
        const r = await copyExamples(h, chosen.map((f) => describeExample(f, `# ${f}\n`)), "/f");
        const clobbered = log.writes.filter((w) => present.includes(w.slice(3)));
        if (answer !== "overwrite") expect(clobbered).toEqual([]);
        expect(new Set(log.writes).size).toBe(log.writes.length);
        const conflicts = chosen.filter((c) => present.includes(c));
        if (conflicts.length > 0 && answer === undefined) expect(r).toBeUndefined();
        if (conflicts.length === 0) expect(log.asked).toEqual([]);
        else expect(log.asked).toEqual([conflicts]);
      }),
    );
  });
});
