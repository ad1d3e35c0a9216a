/**
 * The one error taxonomy (ARCHITECTURE.md "Errors"): a problem is a code from the lists below, a
 * message for people, a source range and a hint. Diagnostics carry them in the editor, the
 * Problems view and the CLI (`file:line:col: error code: message`); a failed engine request
 * carries a RequestErrorCode over the protocol. A code not listed here does not compile.
 */

/** Half-open character offsets into the scenario text, plus 0-based line/column of the start. */
export interface SourceRange {
  start: number;
  end: number;
  line: number;
  column: number;
}

export type Severity = "error" | "warning" | "info";

/** One problem in a scenario: what every layer reports instead of throwing. */
export interface Diagnostic {
  severity: Severity;
  /** Stable code, one of DIAGNOSTIC_CODES. */
  code: DiagnosticCode;
  message: string;
  /** What to do about it, one sentence. */
  hint?: string;
  range: SourceRange;
}

/** Every code a Diagnostic can carry, by the layer that reports it. */
export const DIAGNOSTIC_CODES = [
  // scenario/parse.ts, scenario/syntax.ts: the text and its shape
  "too-large",
  "too-deep",
  "text-encoding",
  "invisible-character",
  "empty",
  "yaml-syntax",
  "missing-space",
  "internal-error",
  "duplicate-key",
  "key-not-scalar",
  "unknown-key",
  "missing-key",
  "expected-mapping",
  "expected-list",
  "expected-string",
  "expected-boolean",
  "invalid-value",
  "out-of-range",
  "address-malformed",
  "size-malformed",
  "pci-id-malformed",
  "duration-malformed",
  "bdf-malformed",
  "bdf-duplicate",
  "bus-mismatch",
  "parent-unknown",
  "parent-not-bridge",
  "parent-cycle",
  "driver-not-vfio",
  "iommu-model-unsupported",
  "vm-duplicate",
  "vm-name-invalid",
  "vm-memory-invalid",
  "device-assigned-twice",
  "missing-op",
  "unknown-step",
  "step-two-ops",
  "too-many-steps",
  "translate-without-expect",
  "poke-target",
  "poke-target-missing",
  "host-memory-exceeded",
  "host-memory-too-small",
  "dma-length",
  "dma-too-large",
  "dma-transfers",
  "poke-value",
  "vm-too-many-pages",
  // scenario/sriov.ts: SR-IOV capabilities and the VFs they enable
  "sriov-invalid",
  "vf-without-pf",
  "sriov-ari-required",
  // scenario/acsOverride.ts, sim/acsOverride.ts: the pcie_acs_override= what-if
  "acs-override-ignored",
  "kernel-param-ignored",
  "acs-override-unsafe",
  "acs-override-host-critical",
  // scenario/validate.ts: references and the mistakes VFIO or the IOMMU would punish
  "unknown-vm",
  "unknown-device",
  "no-viommu",
  "viommu-aw-bits",
  "viommu-option",
  "viommu-rejected",
  "viommu-aw-bits-host",
  "group-not-viable",
  "map-unaligned",
  "map-interrupt-window",
  "map-overlap",
  "address-beyond-aw",
  // scalable mode (docs/scalable-mode.md): a PASID feature on a unit or step that cannot have it
  "scalable-mode-required",
  "pasid-unsupported",
  // interrupt remapping, reserved regions, memlock (docs/interrupt-remapping-and-reserved-regions.md)
  "intremap-config",
  "memlock-short",
  "libvirt-hard-limit",
  // sim/: the machine's own checks, a step's named error (StepOutcome.error, `expect: { error }`)
  // and the run's limits
  "device-not-bound",
  "group-busy",
  "caching-mode-required",
  "pf-sriov-enabled",
  "device-assigned",
  "device-not-assigned",
  "host-out-of-memory",
  "invalidation-queue-error",
  "vm-not-running",
  "vm-running",
  "no-container",
  "poke-unbacked",
  "intremap-off",
  "simulation-limit",
  "simulation-error",
  // engine/fixes.ts: the run's unexpected outcomes
  "dma-fault",
  "vfio-errno",
  "expectation-failed",
  "step-error",
  "expect-not-reached",
] as const;

export type DiagnosticCode = (typeof DIAGNOSTIC_CODES)[number];

/** Why an engine request failed (EngineError.code), and the host's own "restarted" (the worker died). */
export const REQUEST_ERROR_CODES = ["no-session", "bad-params", "not-ready", "internal", "cancelled", "restarted"] as const;

export type RequestErrorCode = (typeof REQUEST_ERROR_CODES)[number];

/**
 * Why the command line was refused (cli/args.ts UsageError.code): printed as
 * `passthrough: error CODE: message` with the usage, exit code 2, so a script can tell a typo
 * from a failing scenario without matching the message.
 */
export const USAGE_ERROR_CODES = [
  "unknown-command",
  "unknown-option",
  "option-value-missing",
  "option-takes-no-value",
  "invalid-option-value",
  "conflicting-options",
  "missing-file",
  "too-many-arguments",
  "invalid-argument",
] as const;

export type UsageErrorCode = (typeof USAGE_ERROR_CODES)[number];
