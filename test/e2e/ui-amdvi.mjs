#!/usr/bin/env node
// The DMA Trace of an AMD-Vi host end to end in a real VS Code: the drive of ui.mjs
// (harness/traceToFault.mjs) on examples/amd-io-page-fault - F8 to the IO_PAGE_FAULT, the walk pane
// names it, the cursor lens follows. Writes test-results/ui-amdvi.json; screenshot in
// test-results/ui-amdvi.png.
const { driveTraceToFault } = await import("./harness/traceToFault.mjs");

await driveTraceToFault({ suite: "ui-amdvi", example: "amd-io-page-fault", walk: /IO_PAGE_FAULT/, code: "0x02", shot: "ui-amdvi.png" });
