/**
 * The model-neutral shape of a `dma` step's transfers and their tally (every host IOMMU's hot
 * path, HostIommu.translateRun, fills the same tally). Defined beside the VT-d unit that came
 * first; re-exported here so machine.ts and the other models need not name a VT-d module.
 */
export { DmaTally, dmaTransfer, type DmaTransfer } from "./vtd/unit.js";
