/**
 * The page request descriptor (VT-d 7.5.1.1; Linux struct page_req_dsc, drivers/iommu/intel/prq.c):
 * 32 bytes the unit writes into the page request queue. qw0: type 1 [7:0], PP [8], PDP [9], RID
 * [31:16], PASID [51:32], ER [52], PMR [53]; qw1: RDR [0], WRR [1], LPIG [2], PRGI [11:3], ADDR
 * [63:12]; qw2/qw3: private data, valid with PDP (VT-d 3.x; Linux's `priv_data_present:1` after
 * `pasid_present:1` and `u64 priv_data[2]` until "iommu/vt-d: Remove private data use in fault
 * message", 621b7e54f288, v6.10: "According to Intel VT-d specification revision 4.0, 'Private
 * Data' field has been removed from Page Request/Response"). The unit encodes, Linux's handler and
 * Mapping Tables decode with these two functions.
 *
 * Pure module: no vscode, no Node built-ins.
 */

export interface PageRequestDesc {
  type: number;
  /** PASID Present. */
  pp: boolean;
  /** Private Data Present (VT-d 3.x): qw2/qw3 carry the device's private data. */
  pdp: boolean;
  rid: number;
  pasid: number;
  /** Execute Requested, Privileged Mode Requested. */
  er: boolean;
  pmr: boolean;
  /** Read Requested, Write Requested, Last Page In Group. */
  rdr: boolean;
  wrr: boolean;
  lpig: boolean;
  /** Page Request Group Index. */
  prgi: number;
  /** The page (bits 63:12 of qw1). */
  addr: bigint;
}

export function encodePageRequestDesc(d: Omit<PageRequestDesc, "type">): [bigint, bigint] {
  const qw0 = 1n | (d.pp ? 1n << 8n : 0n) | (d.pdp ? 1n << 9n : 0n) | (BigInt(d.rid & 0xffff) << 16n) | (BigInt(d.pasid & 0xfffff) << 32n) | (d.er ? 1n << 52n : 0n) | (d.pmr ? 1n << 53n : 0n);
  const qw1 = (d.rdr ? 1n : 0n) | (d.wrr ? 2n : 0n) | (d.lpig ? 4n : 0n) | (BigInt(d.prgi & 0x1ff) << 3n) | (d.addr & ~0xfffn);
  return [qw0, qw1];
}

export function decodePageRequestDesc(qw0: bigint, qw1: bigint): PageRequestDesc {
  const bit = (w: bigint, n: bigint) => ((w >> n) & 1n) === 1n;
  return {
    type: Number(qw0 & 0xffn),
    pp: bit(qw0, 8n),
    pdp: bit(qw0, 9n),
    rid: Number((qw0 >> 16n) & 0xffffn),
    pasid: Number((qw0 >> 32n) & 0xfffffn),
    er: bit(qw0, 52n),
    pmr: bit(qw0, 53n),
    rdr: bit(qw1, 0n),
    wrr: bit(qw1, 1n),
    lpig: bit(qw1, 2n),
    prgi: Number((qw1 >> 3n) & 0x1ffn),
    addr: qw1 & ~0xfffn,
  };
}
