/**
 * Reading a file whole: where the platform cannot stream a file (VS Code for the Web, a remote or
 * virtual scheme), vscode.workspace.fs hands over all of its bytes at once, so a huge log would sit
 * in the extension host's memory (or fail to fit). Above a limit the import says so plainly and
 * names the ways that work. No `vscode` import.
 */

/** The largest file read whole (the Node host streams local files of any size instead). */
export const WHOLE_READ_LIMIT = 256 * 2 ** 20;

/** Why `name` (`size` bytes) is not read whole, or undefined when it may be. */
export function wholeReadRefusal(name: string, size: number, limit: number = WHOLE_READ_LIMIT): string | undefined {
  if (size <= limit) return undefined;
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(n < 10 * 2 ** 20 ? 1 : 0)} MiB`;
  return `Import evidence: ${name} is ${mib(size)}; here a file is read whole, up to ${mib(limit)}. Import a shorter log (one boot's kernel messages: journalctl -k -b), or decode this one with the CLI: passthrough decode ${name}`;
}
