#!/usr/bin/env node
// The DMA Trace end to end in a real VS Code on a VT-d host (harness/traceToFault.mjs): F8 to the
// fault of examples/dma-after-unmap, the walk pane names 0x05, the cursor lens follows. Writes
// test-results/ui.json for the closing summary; screenshot in test-results/ui-trace.png.
const { driveTraceToFault } = await import("./harness/traceToFault.mjs");

await driveTraceToFault({ suite: "ui", example: "dma-after-unmap", walk: /fault 0x05 PTE Write access is not set/, code: "0x05", shot: "ui-trace.png" });
