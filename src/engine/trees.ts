/**
 * The four sidebar trees as data, one module per view (package.json contributes.views):
 * Virtual Machines (trees/vms.ts), Devices & IOMMU Groups (trees/groups.ts), Mapping Tables
 * (trees/tables.ts: built from the IOMMU contract's inspection half) and Faults (trees/faults.ts).
 * Children are computed on demand from the machine at the cursor (lazy expansion), each node with
 * a stable path id so the host can refresh single elements and reveal a path. Ids: segments
 * joined by '/', the first segment names the root.
 */
import type { TreeNode, ViewId } from "../protocol/engine.js";
import type { TreeContext } from "./trees/common.js";
import { faultChildren } from "./trees/faults.js";
import { groupChildren } from "./trees/groups.js";
import { tableChildren } from "./trees/tables.js";
import { vmChildren } from "./trees/vms.js";

export type { TreeContext } from "./trees/common.js";
export { FAULTS_PER_STEP } from "./trees/faults.js";
export { RUNS_PER_SLOT } from "./trees/vms.js";

/** Children of `id` (null = the roots) in `view`, or null when the id no longer exists. */
export function treeChildren(view: ViewId, id: string | null, ctx: TreeContext): TreeNode[] | null {
  switch (view) {
    case "vms":
      return vmChildren(id, ctx);
    case "groups":
      return groupChildren(id, ctx);
    case "tables":
      return tableChildren(id, ctx);
    case "faults":
      return faultChildren(id, ctx);
  }
}
