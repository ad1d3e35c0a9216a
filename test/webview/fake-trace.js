// The stand-in host's synthetic trace: fakeTrace(config) gives the trace's config (with defaults)
// and the answers to the webview's requests. A plain script: the test page runs it before
// fake-host.js, and the harness (harness.mjs) runs it in Node to write the answers to the first
// requests into the page, as the extension does (tracePanel.ts, InitialMessages).
// eslint-disable-next-line @typescript-eslint/no-unused-vars -- a global of a classic script: the test page and harness.mjs call it
function fakeTrace(config) {
  const cfg = Object.assign({ events: 200, faultEvery: 50, deviceName: "X710 10GbE", vm: "web01" }, config || {});
  if (cfg.deviceNameRepeat) cfg.deviceName = cfg.deviceNameRepeat.char.repeat(cfg.deviceNameRepeat.count);
  // Huge names that do not fit a URL: { prefix, char, count } for the VM and for step 1's operation and summary.
  const big = (b) => `${b.prefix || ""}${b.char.repeat(b.count)}`;
  if (cfg.vmRepeat) cfg.vm = big(cfg.vmRepeat);
  if (cfg.stepRepeat) cfg.steps = [{ line: 3, op: big(cfg.stepRepeat), summary: big(cfg.stepRepeat) }];
  const N = cfg.events;
  // Event i: every 16th a slow-path map, every faultEvery-th a write fault (0x05), odd ones IOTLB hits.
  const kindOf = (i) => (i % 16 === 0 ? 3 : 1);
  const isFault = (i) => kindOf(i) === 1 && i % cfg.faultEvery === 7;
  const resultOf = (i) => (kindOf(i) === 3 ? 5 : isFault(i) ? 3 : i % 2 ? 1 : 2);
  // Compare marks (as diffRuns): event i % 10 === 3 added, 4 changed, 5 with 2 events removed before it, 6 with 1 removed after it.
  const diffOf = (i) => [0, 0, 0, 1, 2, 4, 8, 0, 0, 0][i % 10];
  function list(filter) {
    const results = filter.results || [];
    if (!results.length && !filter.text) return null; // identity
    const out = [];
    for (let i = 0; i < N; i++) if ((!results.length || results.includes(resultOf(i))) && (!filter.text || String(i).includes(filter.text))) out.push(i);
    return out;
  }
  const cache = new Map();
  function matchOf(filter) {
    const key = JSON.stringify(filter);
    if (!cache.has(key)) cache.set(key, list(filter));
    return cache.get(key);
  }
  const at = (m, k) => (m ? m[k] : k);
  const count = (m) => (m ? m.length : N);
  const handlers = {
    traceInfo: ({ filter }) => {
      const m = matchOf(filter);
      let faults = 0;
      // (isFault inlined: this runs in the page, not in a worker as the real answer does, and a
      // function call per fault in not-yet-optimized code cost the page 10-15 ms at startup)
      if (!m) for (let i = 7; i < N; i += cfg.faultEvery) faults += i % 16 !== 0 ? 1 : 0;
      else for (let k = 0; k < m.length; k++) if (isFault(m[k])) faults++;
      return { runVersion: 1, summary: { total: N, matched: count(m), faults, byResult: {}, byReason: { 5: faults } }, devices: [{ sid: 0x100, key: "01:00.0", name: cfg.deviceName, vm: cfg.vm }, { sid: 0x200, key: "02:00.0", name: "second", vm: cfg.vm }], vms: [cfg.vm], canCompare: !!cfg.compare, removed: cfg.compare ? Math.floor(N / 10) * 3 : 0, usesPasid: !!cfg.pasid };
    },
    tracePage: ({ filter, start, count: c, compare }) => {
      const m = matchOf(filter);
      const total = count(m);
      const s = Math.max(0, Math.min(start, total));
      const n = Math.max(0, Math.min(c, total - s));
      const cols = { index: new Uint32Array(n), step: new Uint32Array(n), kind: new Uint8Array(n), flags: new Uint8Array(n), level: new Uint8Array(n), reason: new Uint8Array(n), sid: new Uint16Array(n), did: new Uint16Array(n), aLo: new Uint32Array(n), aHi: new Uint32Array(n), bLo: new Uint32Array(n), bHi: new Uint32Array(n), diff: new Uint8Array(n), removed: new Uint32Array(n), removedAfter: new Uint32Array(n), pasid: new Int32Array(n), cause: new Int32Array(n) };
      for (let k = 0; k < n; k++) {
        const i = at(m, s + k);
        cols.index[k] = i;
        cols.step[k] = Math.floor(i / 100);
        cols.kind[k] = kindOf(i);
        cols.flags[k] = (isFault(i) ? 1 : i % 3 === 0 ? 1 : 0) | (i % 2 && !isFault(i) ? 2 : 0);
        cols.level[k] = 1;
        cols.reason[k] = isFault(i) ? 5 : 0;
        cols.sid[k] = i % 5 === 0 ? 0x200 : 0x100;
        cols.did[k] = 3;
        // config.wideAddresses: a q35 guest's IOVA above 4 GiB and an HPA high in a 256 GiB host
        // (0x1_0000_0000 → 0x32_6200_0000: 9 and 10 hex digits, as a real trace has them).
        const iova = (cfg.wideAddresses ? 2 ** 32 : 0) + i * 4096;
        cols.aLo[k] = iova >>> 0;
        cols.aHi[k] = Math.floor(iova / 2 ** 32);
        cols.bLo[k] = ((cfg.wideAddresses ? 0x62000000 : 0x40000000) + i * 4096) >>> 0;
        cols.bHi[k] = cfg.wideAddresses ? 0x32 : 4;
        // config.pasid: the second device's requests carry PASID 5 (traceTags.ts); config.cause:
        // each map (a guest vIOMMU's shadow) was caused by the guest action of the step before.
        cols.pasid[k] = cfg.pasid && kindOf(i) === 1 && cols.sid[k] === 0x200 ? 5 : -1;
        cols.cause[k] = cfg.cause && kindOf(i) === 3 ? Math.max(0, cols.step[k] - 1) : -1;
        if (cfg.compare && compare) {
          cols.diff[k] = diffOf(i);
          if (diffOf(i) === 4) cols.removed[k] = 2;
          if (diffOf(i) === 8) cols.removedAfter[k] = 1;
        }
      }
      return { start: s, count: n, matched: total, columns: cols };
    },
    traceLocate: ({ filter, step, event }) => {
      const m = matchOf(filter);
      const e = event !== undefined ? event : (step || 0) * 100;
      if (!m) return { row: Math.min(e, N - 1), event: e };
      let k = 0;
      while (k < m.length && m[k] < e) k++;
      return { row: k, event: e };
    },
    traceNextFault: ({ filter, row, dir }) => {
      const m = matchOf(filter);
      for (let k = row + dir; k >= 0 && k < count(m); k += dir) if (isFault(at(m, k))) return { row: k };
      return { row: -1 };
    },
    traceTimeline: ({ buckets }) => {
      const b = Math.max(1, Math.min(buckets, 4096));
      const events = new Uint32Array(b);
      const faults = new Uint32Array(b);
      for (let q = 0; q < b; q++) events[q] = Math.ceil(N / b);
      for (let i = 7; i < N; i += cfg.faultEvery) faults[Math.min(b - 1, Math.floor((i * b) / N))]++;
      // A step every 100 events (as cols.step): its first event's bucket.
      const steps = new Uint32Array(Math.ceil(N / 100));
      for (let st = 0; st < steps.length; st++) steps[st] = Math.min(b - 1, Math.floor((st * 100 * b) / N));
      return { events, faults, steps };
    },
    // Every slow-path event of the fake is a map (kindOf), as the engine describes one.
    // With config.cause, the guest step behind each map (the step before, as the page's cause column
    // says) in intel-iommu's words, as the engine words it (engine/slowPath.ts).
    traceSlowPath: ({ event }) => {
      const step = Math.floor(event / 100);
      const c = Math.max(0, step - 1);
      const op = (s) => (cfg.steps || [])[s]?.op ?? "";
      return {
        event, step, text: "VFIO_IOMMU_MAP_DMA: the host driver wrote page-table entries for this IOVA range and flushed as Linux does.",
        ...(cfg.cause ? { cause: { step: c, text: c === step ? `QEMU trapped the guest's IOTLB invalidation in this step (${op(step)}) and replayed it as this VFIO call (vtd_sync_shadow_page_table_range).` : `the guest driver wrote this entry in step ${c + 1} (${op(c)}) without invalidating it; QEMU only shadowed it when the guest's IOTLB invalidation in this step reached it.` } } : {}),
      };
    },
    traceWalk: ({ event }) => ({
      ...(cfg.pasid && event % 5 === 0 ? { pasid: 5 } : {}),
      event, step: Math.floor(event / 100), device: cfg.pasid && event % 5 === 0 ? "02:00.0 second" : `01:00.0 ${cfg.deviceName}`, summary: isFault(event) ? "fault 0x05 PTE Write access is not set" : "IOVA -> HPA", reason: isFault(event) ? 5 : 0, iotlbHit: false, hpa: isFault(event) ? undefined : "0x440000000",
      stages: [
        { kind: "root", name: "root entry", level: 0, index: 1, indexText: "01", address: "0x10000010", raw: ["0x0000000010001001", "0x0000000000000000"], fields: [["P", "1"], ["CTP", "0x10001000"]] },
        { kind: "context", name: "context entry", level: 0, index: 0, indexText: "00.0", address: "0x10001000", raw: ["0x0000000010002001", "0x0000000000000302"], fields: [["DID", "3"]] },
        { kind: "pte", name: "SL-PTE", level: 1, index: event % 512, indexText: String(event % 512), address: "0x10005000", raw: ["0x0000000000000000"], fields: [["R", "0"], ["W", "0"]], ...(isFault(event) ? { stop: "level-1 entry not present (R = W = 0)" } : {}) },
      ],
    }),
  };
  return { cfg, handlers };
}
