/**
 * `host.acs-override`: the value of the out-of-tree `pcie_acs_override=` kernel parameter, read as
 * the patch reads it. The patch (Alex Williamson's "pci: Enable overrides for missing ACS
 * capabilities", carried by ZEN/liquorix and the ACSO kernels; drivers/pci/quirks.c
 * pcie_acs_override_setup()) walks the text comma by comma:
 *   - `strncmp(p, "downstream", 10)` / `strncmp(p, "multifunction", 13)`: a prefix match;
 *   - `id:` then `snprintf(opt, 5, "%s", p); kstrtol(opt, 16, &val)` for the vendor (at most 4
 *     characters, all of them hex, else pr_warn("PCIe ACS ID parse error %d\n", ret)), then
 *     `p += strcspn(p, ":")` (no ':' left: pr_warn("PCIe ACS invalid ID\n")) and the device the
 *     same way; at most NUM_ACS_IDS - 1 = 15 ids (`max_acs_id >= NUM_ACS_IDS - 1`:
 *     pr_warn("Out of PCIe ACS override slots (%d)\n", NUM_ACS_IDS));
 *   - `next: p += strcspn(p, ","); if (*p == ',') p++;` - so text after a malformed id up to the
 *     next comma is skipped, and an id without a second ':' swallows the rest of its item.
 * The quirk that applies it (pcie_acs_overrides) is in sim/acsOverride.ts.
 */
import type { AcsOverrideSpec, SourceRange } from "./types.js";

/** NUM_ACS_IDS in the patch. */
const NUM_ACS_IDS = 16;
/** -EINVAL, what kstrtol() returns for a character that is not a hex digit. */
const EINVAL = -22;

/** kstrtol(opt, 16): an optional 0x prefix, hex digits, an optional trailing newline; else -EINVAL. */
function kstrtol16(opt: string): number {
  const m = /^(?:0x)?([0-9a-f]+)\n?$/i.exec(opt);
  return m === null ? EINVAL : parseInt(m[1]!, 16);
}

/** The option text as the patch parses it, and the pr_warn lines it prints on the way. */
export function parseAcsOverride(text: string, range: SourceRange): { spec: AcsOverrideSpec; warnings: string[] } {
  const spec: AcsOverrideSpec = { text, downstream: false, multifunction: false, ids: [], range };
  const warnings: string[] = [];
  let p = 0;
  const strcspn = (from: number, ch: string) => {
    const i = text.indexOf(ch, from);
    return (i < 0 ? text.length : i) - from;
  };
  while (p < text.length) {
    const rest = text.slice(p);
    if (rest.startsWith("downstream")) spec.downstream = true;
    if (rest.startsWith("multifunction")) spec.multifunction = true;
    if (rest.startsWith("id:")) {
      parse: {
        if (spec.ids.length >= NUM_ACS_IDS - 1) {
          warnings.push(`Out of PCIe ACS override slots (${NUM_ACS_IDS})`);
          break parse;
        }
        p += 3;
        const vendor = kstrtol16(text.slice(p, p + 4));
        if (vendor < 0) {
          warnings.push(`PCIe ACS ID parse error ${vendor}`);
          break parse;
        }
        p += strcspn(p, ":");
        if (text[p] !== ":") {
          warnings.push("PCIe ACS invalid ID");
          break parse;
        }
        p++;
        const device = kstrtol16(text.slice(p, p + 4));
        if (device < 0) {
          warnings.push(`PCIe ACS ID parse error ${device}`);
          break parse;
        }
        spec.ids.push({ vendor: vendor & 0xffff, device: device & 0xffff });
      }
    }
    p += strcspn(p, ",");
    if (text[p] === ",") p++;
  }
  return { spec, warnings };
}

/** Whether the option enables anything (the patch prints its warning only then). */
export function acsOverrideActive(s: AcsOverrideSpec | undefined): s is AcsOverrideSpec {
  return s !== undefined && (s.downstream || s.multifunction || s.ids.length > 0);
}
