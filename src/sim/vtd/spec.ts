/**
 * The default VT-d unit (scenario/iommuSpecs.ts, where the parser's defaults of every model live),
 * with no source range: the one builder for code and tests that make a unit without a scenario
 * (the bench modes, the unit tests).
 *
 * Pure module: no vscode, no Node built-ins.
 */
export { vtdIommuSpec } from "../../scenario/iommuSpecs.js";
