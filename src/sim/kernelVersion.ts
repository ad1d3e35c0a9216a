/**
 * Kernel versions as scenarios and logs name them ("6.8", "v5.15-rc3", "5.10.0-21-amd64"), and the
 * comparisons every kernel-dependent rule makes with them: the release a change landed in, and the
 * stable releases a fix was backported to. One place, so that every module compares alike (a
 * 4.19 kernel is older than 5.13 whatever its minor number says).
 * Pure module: no vscode, no Node built-ins.
 */

export interface KernelVersion {
  major: number;
  minor: number;
}

/** "6.8", "v5.15-rc3", "5.10.0-21-amd64", "linux-4.4.0", "6" → {major, minor}; undefined if no number. */
export function parseKernelVersion(version: string): KernelVersion | undefined {
  const m = /(\d+)\.(\d+)/.exec(version) ?? /(\d+)/.exec(version);
  if (!m) return undefined;
  return { major: Number(m[1]), minor: m[2] === undefined ? 0 : Number(m[2]) };
}

/** Whether `v` is `major.minor` or later. */
export function versionAtLeast(v: KernelVersion, major: number, minor: number): boolean {
  return v.major > major || (v.major === major && v.minor >= minor);
}

/**
 * Whether the kernel `version` names is `major.minor` or later; for a text without a version (or
 * none), `unversioned`: each rule says which kernel it assumes then (most: the current one, true).
 */
export function kernelAtLeast(version: string | undefined, major: number, minor: number, unversioned: boolean): boolean {
  const v = version === undefined ? undefined : parseKernelVersion(version);
  return v === undefined ? unversioned : versionAtLeast(v, major, minor);
}

/**
 * Whether `version` is a stable release that has a backport: its major.minor is one of `backports`'
 * [major, minor, first patch] and its patch level ("6.1.33", "6.1.33-generic") at least that patch.
 */
export function hasStableBackport(version: string, backports: readonly (readonly [number, number, number])[]): boolean {
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  return backports.some(([a, b, p]) => a === major && b === minor && patch >= p);
}
