// KVM's GATag (arch/x86/kvm/svm/avic.c AVIC_GATAG / AVIC_GATAG_TO_VMID / _VCPUID / _VCPUIDX) per
// kernel: 8-bit vCPU id before 6.3; 9-bit id from 5999715922c5 (v6.3, stable 6.2.8); the vCPU's
// index from 11a60455d4c9 (v6.17); 12 bits from ca11d9d35e95 (v6.19). The values are what the
// kernel's macros compute: (vm_id << AVIC_VM_ID_SHIFT) | vcpu.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseScenario } from "../../src/scenario/index.js";
import type { AmdViHost } from "../../src/sim/amdvi/host.js";
import { avicGaTag, decodeGaTag, gaTagLayout, gaTagWakes } from "../../src/sim/amdvi/avic.js";
import { hasStableBackport } from "../../src/sim/kernelVersion.js";
import { firstSteps, runAmd } from "./amdvi-helpers.js";

const EXAMPLE = readFileSync(join(__dirname, "..", "..", "examples", "amd-ga-log.passthrough.yaml"), "utf8");
const withKernel = (text: string, k: string) => text.replace('kernel: "6.8"', `kernel: "${k}"`);

describe("KVM's GATag by kernel version", () => {
  it("AVIC_GATAG(1, 2) and (5, 300): 4.x-6.2 8-bit vCPU id, 6.2.8 and 6.3-6.18 9 bits, 6.19 on 12 bits", () => {
    const at = (k: string) => [avicGaTag(k, 1, 2), avicGaTag(k, 5, 300)];
    // Before 6.3: AVIC_VCPU_ID_BITS 8 - vCPU 300 does not fit (KVM rejected such vCPUs with AVIC).
    expect(at("5.15")[0]).toBe(0x102);
    expect(at("6.2.7")[0]).toBe(0x102);
    expect(at("6.1.100")[0]).toBe(0x102);
    expect(typeof at("6.2")[1]).toBe("string");
    for (const k of ["6.2.8", "6.3", "6.8", "6.16"]) expect(at(k)).toEqual([0x202, (5 << 9) | 300]);
    expect(at("6.17")).toEqual([0x202, (5 << 9) | 300]);
    expect(at("6.19")).toEqual([0x1002, (5 << 12) | 300]);
    expect(at("7.0")).toEqual([0x1002, (5 << 12) | 300]);
  });

  it("stable backports are matched by major.minor.patch: 6.2.8-generic yes, 6.2 and 6.20.8 no", () => {
    const b = [[6, 2, 8]] as const;
    expect(["6.2.8", "6.2.8-generic", "6.2.30", "6.2", "6.2.7", "6.20.8", "v6.3"].map((k) => hasStableBackport(k, b))).toEqual([true, true, true, false, false, false, false]);
  });

  it("the notifier's field: vcpu_id before 6.17, vcpu_idx from 6.17 (kvm_get_vcpu)", () => {
    expect(["6.16", "6.17", "6.18", "6.19"].map((k) => gaTagLayout(k))).toEqual([
      { vcpuBits: 9, byIndex: false },
      { vcpuBits: 9, byIndex: true },
      { vcpuBits: 9, byIndex: true },
      { vcpuBits: 12, byIndex: true },
    ]);
    expect(gaTagWakes("6.8", 0x202)).toBe("vm_id=0x1, vcpu_id=0x2: wakes vCPU id 2 of the VM with AVIC id 1");
    expect(gaTagWakes("6.17", 0x202)).toBe("vm_id=0x1, vcpu_idx=0x2: wakes vCPU index 2 of the VM with AVIC id 1");
    // A 6.2-era tag read by a 6.8 kernel: VM id 0, which KVM never assigns.
    expect(gaTagWakes("6.8", 0x102)).toBe("vm_id=0x0, vcpu_id=0x102: no VM has AVIC id 0 (KVM's ids are 1-based), no vCPU is woken");
  });

  it("property: decode(encode(vm, vcpu)) = (vm, vcpu) for every layout, and the tag keeps the VM above the vCPU field", () => {
    fc.assert(
      fc.property(fc.constantFrom("5.10", "6.2.8", "6.8", "6.17", "6.19"), fc.nat(), fc.nat(), (k, a, b) => {
        const l = gaTagLayout(k);
        const vcpu = b % 2 ** l.vcpuBits;
        const vm = 1 + (a % (2 ** (32 - l.vcpuBits) - 1));
        const tag = avicGaTag(k, vm, vcpu);
        expect(typeof tag).toBe("number");
        expect(decodeGaTag(k, tag as number)).toMatchObject({ vmId: vm, vcpu });
        expect(Math.floor((tag as number) / 2 ** l.vcpuBits)).toBe(vm);
      }),
    );
  });

  it("the irte step with vcpu writes the kernel's tag into the IRTE and the GA log entry; the thread's summary names the vCPU it wakes", () => {
    for (const [k, tag, field] of [["6.1", 0x102, "vcpu_id"], ["6.8", 0x202, "vcpu_id"], ["6.17", 0x202, "vcpu_idx"], ["6.19", 0x1002, "vcpu_idx"]] as const) {
      const r = runAmd(withKernel(firstSteps(EXAMPLE, 5), k));
      expect(r.outcomes.flatMap((o) => o.expect?.failures ?? [])).toEqual([]);
      const u = (r.machine.hostIommu as AmdViHost).unit;
      expect(r.machine.mem.readU64(u.gaLogBase)! & 0xffffffffn).toBe(BigInt(tag));
      expect(r.outcomes[3]!.summary).toContain(`GATag 0x${tag.toString(16)} = AVIC_GATAG(vm_id 1, ${field} 2)`);
      expect(r.outcomes[4]!.summary).toContain(`GATag 0x${tag.toString(16)} (vm_id=0x1, ${field}=0x2: wakes vCPU ${field === "vcpu_id" ? "id" : "index"} 2 of the VM with AVIC id 1)`);
    }
    // vm-id 3, vCPU 511 on 6.8: (3 << 9) | 511.
    const r = runAmd(firstSteps(EXAMPLE, 5).replaceAll("0x3_0000_0000, vcpu: 2", "0x3_0000_0000, vcpu: 511, vm-id: 3"));
    expect(r.outcomes[4]!.summary).toContain("GATag 0x7ff (vm_id=0x3, vcpu_id=0x1ff");
  });

  it("a vCPU over the kernel's field fails the step with the reason; ga-tag with vcpu, vm-id without vcpu are errors with a hint", () => {
    const r = runAmd(withKernel(firstSteps(EXAMPLE, 2), "6.1").replace("0x3_0000_0000, vcpu: 2 }", "0x3_0000_0000, vcpu: 300 }"));
    expect(r.outcomes[1]!.error).toBe("intremap-config");
    expect(r.outcomes[1]!.summary).toBe("vcpu_id 300 does not fit this kernel's 8-bit vCPU field of the GATag (KVM's AVIC_GATAG)");
    const both = parseScenario(firstSteps(EXAMPLE, 2).replace("0x3_0000_0000, vcpu: 2 }", "0x3_0000_0000, vcpu: 2, ga-tag: 0x202 }"), "x.passthrough.yaml");
    const d = both.diagnostics.find((x) => x.message === '"ga-tag" and "vcpu" both set the GATag');
    expect(d?.severity).toBe("error");
    expect(d?.range.line).toBeGreaterThan(0);
    expect(d?.hint).toMatch(/AVIC_GATAG/);
    const lone = parseScenario(firstSteps(EXAMPLE, 2).replace("0x3_0000_0000, vcpu: 2 }", "0x3_0000_0000, vm-id: 2 }"), "x.passthrough.yaml");
    expect(lone.diagnostics.find((x) => x.message === '"vm-id" needs "vcpu"')?.severity).toBe("error");
  });
});
