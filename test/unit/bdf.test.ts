// The one BDF parse/format module (sim/bdf.ts): round trips with and without segment, the text
// forms other tools print (lspci, sysfs, old kernel logs with 0x), range errors with a hint, and
// the requester id the IOMMU sees. The scenario, importers, PCI topology and views all use it.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bdfKey, bdfOfSid, formatBdf, formatDevfn, formatSid, formatSidZeroX, parseBdf, sidOfBdf, type Bdf } from "../../src/sim/bdf.js";
import { parseBdf as parseScenarioBdf } from "../../src/scenario/values.js";
import { parseBdf as parseEvidenceBdf } from "../../src/import/records.js";
import { fullBdf as jsonBdf } from "../../src/import/json.js";

const bdfArb: fc.Arbitrary<Bdf> = fc.record({
  segment: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })),
  bus: fc.integer({ min: 0, max: 0xff }),
  device: fc.integer({ min: 0, max: 0x1f }),
  fn: fc.integer({ min: 0, max: 7 }),
});

const hex = (n: number, w: number) => n.toString(16).padStart(w, "0");

describe("sim/bdf.ts", () => {
  it("parse(format(b)) = b for every BDF, segment written when not 0 or when asked", () => {
    fc.assert(
      fc.property(bdfArb, fc.constantFrom("auto", "always"), (b, seg) => {
        const text = formatBdf(b, seg);
        const p = parseBdf(text);
        expect(p).toEqual({ ok: true, bdf: b, key: formatBdf(b) });
        expect(text.startsWith(`${hex(b.segment, 4)}:`)).toBe(seg === "always" || b.segment !== 0);
        expect(text.endsWith(`${hex(b.bus, 2)}:${hex(b.device, 2)}.${b.fn}`)).toBe(true);
      }),
    );
  });

  it("any spelling of a BDF (case, short numbers, 0x before bus and device, blanks) normalises to one key", () => {
    fc.assert(
      fc.property(bdfArb, fc.boolean(), fc.boolean(), fc.boolean(), (b, upper, short, zeroX) => {
        const n = (v: number, w: number) => (short ? v.toString(16) : hex(v, w));
        const x = zeroX ? "0x" : "";
        let text = `${b.segment !== 0 || !short ? `${n(b.segment, 4)}:` : ""}${x}${n(b.bus, 2)}:${x}${n(b.device, 2)}.${b.fn}`;
        if (upper) text = text.toUpperCase().replace(/0X/g, "0x");
        expect(bdfKey(` ${text} `)).toBe(formatBdf(b));
      }),
    );
  });

  it("out-of-range numbers are errors with a message naming the field and a hint", () => {
    expect(parseBdf("01:20.0")).toEqual({ ok: false, message: 'BDF "01:20.0": device number 0x20 is above 0x1f', hint: "A PCI device number is 0..1f (5 bits); functions are 0..7." });
    expect(parseBdf("100:00.0")).toMatchObject({ ok: false, message: 'BDF "100:00.0": bus 0x100 is above 0xff' });
    expect(parseBdf("10000:00:00.0")).toMatchObject({ ok: false, message: 'BDF "10000:00:00.0": segment 0x10000 is above 0xffff' });
    expect(parseBdf("00:00.8")).toMatchObject({ ok: false, message: 'BDF "00:00.8": function 8 is above 7' });
    expect(parseBdf("0000:01:00")).toMatchObject({ ok: false, message: '"0000:01:00" is not a PCI address' });
    expect(parseBdf("ffffffffffffffffffff:00:00.0")).toMatchObject({ ok: false, hint: "A PCI segment (domain) is 16 bits." });
    expect(bdfKey("nope")).toBeUndefined();
  });

  it("requester ids: bus << 8 | device << 3 | function, printed as Linux prints them", () => {
    fc.assert(
      fc.property(bdfArb, (b) => {
        const sid = sidOfBdf(b);
        expect(sid).toBe((b.bus << 8) | (b.device << 3) | b.fn);
        expect(bdfOfSid(sid, b.segment)).toEqual(b);
        expect(formatSid(sid)).toBe(formatBdf({ ...b, segment: 0 }));
        expect(formatSidZeroX(sid)).toBe(`0x${hex(b.bus, 2)}:0x${hex(b.device, 2)}.${b.fn}`);
        expect(formatDevfn(sid & 0xff)).toBe(`${hex(b.device, 2)}.${b.fn}`);
      }),
    );
  });

  it("the scenario format, the evidence importers and the JSON export parse through it", () => {
    fc.assert(
      fc.property(bdfArb, (b) => {
        const text = formatBdf(b, "always");
        expect(parseScenarioBdf(text)).toEqual({ ok: true, value: { bdf: b, key: formatBdf(b) } });
        expect(parseEvidenceBdf(text)).toEqual({ segment: b.segment, bus: b.bus, dev: b.device, fn: b.fn, key: formatBdf(b) });
        expect(jsonBdf(formatBdf(b))).toBe(text);
      }),
    );
    const bad = parseScenarioBdf("01:20.0");
    expect(bad.ok || bad.message).toBe('BDF "01:20.0": device number 0x20 is above 0x1f');
    expect(parseEvidenceBdf("01:20.0")).toBeUndefined();
  });
});
