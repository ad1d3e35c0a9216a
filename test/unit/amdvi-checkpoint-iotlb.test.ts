// A checkpoint restores the AMD-Vi IOTLB whole: its guest-format (v2) entries keep their PASID tags.
// The host's checkpoint once kept the slots and the victims but not the PASIDs (amdvi/host.ts
// snapshot), so stepping back to a checkpoint taken while v2 entries were cached showed each of
// them under PASID -1, and the next DMA with its PASID missed.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Session } from "../../src/engine/session.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";

const FILES = ["amd-v2-pasid", "amd-v2-stale-iotlb"];

describe("AMD-Vi checkpoints and the IOTLB's v2 entries", () => {
  for (const name of FILES) {
    it(`${name}: a checkpoint taken at each step restores the IOTLB as it was, PASIDs included`, () => {
      const sess = new Session(`${name}.passthrough.yaml`);
      sess.update(readFileSync(`examples/${name}.passthrough.yaml`, "utf8"));
      const steps = sess.machineAtCursor()!.scenario.workload.length;
      let tagged = 0;
      for (let k = 0; k <= steps; k++) {
        sess.setCursor(k);
        const h = sess.machineAtCursor()!.hostIommu as AmdViHost;
        const entries = () => ({ v1: h.unit.iotlb.entries(), v2: h.unit.guestIotlb.entries() });
        const before = entries();
        tagged += before.v2.filter((e) => e.pasid >= 0).length;
        const { snap } = h.snapshot(undefined, (_old, cur) => cur);
        h.unit.iotlb.invalidate(-1, 0n, (1n << 64n) - 1n);
        h.unit.guestIotlb.invalidate(-1, 0n, (1n << 64n) - 1n);
        h.unit.guestIotlb.pasid.fill(-1);
        h.restore(snap);
        expect(entries(), `step ${k}`).toEqual(before);
      }
      expect(tagged).toBeGreaterThan(0);
    });
  }
});
