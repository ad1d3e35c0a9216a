#!/usr/bin/env node
// The DMA Trace of an Arm SMMUv3 host end to end in a real VS Code: the drive of ui.mjs
// (harness/traceToFault.mjs) on examples/smmuv3-translation-fault - F8 to the fault, the walk pane
// names F_TRANSLATION, the cursor lens follows. Screenshot in test-results/ui-smmuv3.png.
const { driveTraceToFault } = await import("./harness/traceToFault.mjs");

await driveTraceToFault({ suite: "ui-smmuv3", example: "smmuv3-translation-fault", walk: /fault 0x10 F_TRANSLATION/, code: "0x10", shot: "ui-smmuv3.png" });
