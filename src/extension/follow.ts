/**
 * The tree views follow the editor's text cursor: putting the caret on a workload item moves the
 * shared cursor (and with it the trees, the trace and the status bar) to that step, debounced so
 * that arrow keys held down or a drag do not queue a state per line. While a debug session of the
 * scenario owns the cursor (it stops, steps, steps back), the text cursor does not move it: the
 * debugger's position wins and the views stay where the debugger put them. Likewise a command that
 * moves the cursor (Run to Here, Translate Address at a step, the DMA Trace, the debugger) after the
 * caret moved supersedes the caret's pending move: the explicit move is the newer intent.
 * An editor shown again reports its restored caret (not a user's move; it can reach the extension
 * host after a command already moved the cursor): a caret that is not the user's and sits on the
 * line it was last seen on did not move, and is not followed.
 *
 * No `vscode` import: the timer and the host calls are injected, so the logic is unit-tested with
 * a fake clock.
 */

/** The step whose item covers a 0-based line (its first to its last line), or undefined. */
export function stepAtLine(steps: readonly { step: number; line: number; endLine: number }[], line: number): number | undefined {
  for (const s of steps) if (line >= s.line && line <= s.endLine) return s.step;
  return undefined;
}

export interface FollowHost {
  /** Steps of the document's last run; undefined when it has not run. */
  steps(uri: string): readonly { step: number; line: number; endLine: number }[] | undefined;
  /** The shared cursor of the document now. */
  cursor(uri: string): number | undefined;
  /** How many times the document's cursor has been moved (by anyone) so far. */
  cursorMoves(uri: string): number;
  /** True while a debug session of this document owns the cursor. */
  debuggerOwns(uri: string): boolean;
  setCursor(uri: string, step: number): void;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export class CursorFollower {
  private pending: unknown;
  private last?: { uri: string; line: number; moves: number };
  /** Per document, the line its caret was last seen on. */
  private readonly lines = new Map<string, number>();

  constructor(
    private readonly host: FollowHost,
    /** Debounce: the cursor moves once the caret has rested this long on a line. */
    readonly delayMs = 150,
  ) {}

  /**
   * The caret of `uri` is on `line` now; `byUser` when the user moved it (keyboard or mouse), false
   * for a move by a command, an extension or an editor restoring its view state.
   */
  onSelection(uri: string, line: number, byUser = true): void {
    const seen = this.lines.get(uri);
    this.lines.set(uri, line);
    if (!byUser && seen === line) return;
    this.last = { uri, line, moves: this.host.cursorMoves(uri) };
    if (this.pending !== undefined) this.host.clearTimer(this.pending);
    this.pending = this.host.setTimer(() => {
      this.pending = undefined;
      this.apply();
    }, this.delayMs);
  }

  private apply(): void {
    const at = this.last;
    if (!at || this.host.debuggerOwns(at.uri)) return;
    // The cursor was moved by a command since the caret came to rest: that move stands.
    if (this.host.cursorMoves(at.uri) !== at.moves) return;
    const steps = this.host.steps(at.uri);
    if (!steps) return;
    const step = stepAtLine(steps, at.line);
    // A line outside every workload item (the host, the VMs, a comment between items) keeps the cursor.
    if (step === undefined || step === this.host.cursor(at.uri)) return;
    this.host.setCursor(at.uri, step);
  }

  /** The document closed: its caret's line is forgotten. */
  forget(uri: string): void {
    this.lines.delete(uri);
  }

  dispose(): void {
    if (this.pending !== undefined) this.host.clearTimer(this.pending);
    this.pending = undefined;
  }
}
