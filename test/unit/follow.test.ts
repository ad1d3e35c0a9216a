// The trees follow the editor's text cursor: debounced, only on workload items, never while a
// debug session owns the cursor. A fake timer stands in for the clock.
import { describe, expect, it } from "vitest";
import { CursorFollower, stepAtLine, type FollowHost } from "../../src/extension/follow.js";
import { describeState, stateStep } from "../../src/protocol/cursor.js";

const STEPS = [
  { step: 0, line: 10, endLine: 10 },
  { step: 1, line: 11, endLine: 12 },
  { step: 2, line: 14, endLine: 16 },
];

function harness() {
  const timers: { fn: () => void; at: number; id: number }[] = [];
  let now = 0;
  let id = 0;
  const moves: number[] = [];
  let cursor = 0;
  let debugging = false;
  let explicit = 0;
  const host: FollowHost = {
    steps: () => STEPS,
    cursor: () => cursor,
    cursorMoves: () => explicit + moves.length,
    debuggerOwns: () => debugging,
    setCursor: (_uri, step) => {
      moves.push(step);
      cursor = step;
    },
    setTimer: (fn, ms) => {
      timers.push({ fn, at: now + ms, id: ++id });
      return id;
    },
    clearTimer: (h) => {
      const i = timers.findIndex((t) => t.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.filter((x) => x.at <= now)) {
      timers.splice(timers.indexOf(t), 1);
      t.fn();
    }
  };
  /** A command (Run to Here, the debugger, the DMA Trace) moves the cursor. */
  const commandMoves = (step: number) => {
    explicit++;
    cursor = step;
  };
  return { follower: new CursorFollower(host, 150), moves, advance, commandMoves, setDebugging: (v: boolean) => (debugging = v) };
}

describe("trees follow the text cursor", () => {
  it("maps every line of a multi-line item to its step, and lines between items to none", () => {
    expect(stepAtLine(STEPS, 10)).toBe(0);
    expect(stepAtLine(STEPS, 12)).toBe(1);
    expect(stepAtLine(STEPS, 13)).toBeUndefined();
    expect(stepAtLine(STEPS, 16)).toBe(2);
    expect(stepAtLine(STEPS, 3)).toBeUndefined();
  });

  it("moves the cursor once the caret rests on a step's line (debounced)", () => {
    const h = harness();
    h.follower.onSelection("u", 14);
    h.advance(100);
    expect(h.moves).toEqual([]);
    h.advance(50);
    expect(h.moves).toEqual([2]);
  });

  it("a burst of caret moves lands once, on the last line", () => {
    const h = harness();
    for (const line of [10, 11, 12, 14, 15]) {
      h.follower.onSelection("u", line);
      h.advance(40);
    }
    h.advance(150);
    expect(h.moves).toEqual([2]);
  });

  it("keeps the cursor on lines outside the workload and on the step it is already on", () => {
    const h = harness();
    h.follower.onSelection("u", 3);
    h.advance(200);
    h.follower.onSelection("u", 10);
    h.advance(200);
    expect(h.moves).toEqual([]);
  });

  it("does not fight a debug session that owns the cursor", () => {
    const h = harness();
    h.setDebugging(true);
    h.follower.onSelection("u", 14);
    h.advance(200);
    expect(h.moves).toEqual([]);
    h.setDebugging(false);
    h.follower.onSelection("u", 14);
    h.advance(200);
    expect(h.moves).toEqual([2]);
  });

  it("a command that moves the cursor after the caret moved wins over the caret's pending move", () => {
    // Switching to a scenario's editor puts the caret somewhere; "Run to step 2" right after must
    // not be undone 150 ms later by that caret (Translate Address then answered at one step while
    // Mapping Tables showed another).
    const h = harness();
    h.follower.onSelection("u", 14);
    h.advance(50);
    h.commandMoves(1);
    h.advance(200);
    expect(h.moves).toEqual([]);
    // The caret moving again afterwards is a new intent and is followed.
    h.follower.onSelection("u", 10);
    h.advance(200);
    expect(h.moves).toEqual([0]);
  });

  it("an editor shown again restores its caret: no move, even when the restore arrives after a command moved the cursor", () => {
    // CI order: the caret was put on step 2's line, the user went to another editor and back, and
    // "Run to step 1" ran before the restored caret reached the extension host.
    const h = harness();
    h.follower.onSelection("u", 14, false);
    h.advance(200);
    expect(h.moves).toEqual([2]);
    h.commandMoves(1);
    h.follower.onSelection("u", 14, false);
    h.advance(200);
    expect(h.moves).toEqual([2]);
    // The user clicking on that same line again is followed.
    h.follower.onSelection("u", 14, true);
    h.advance(200);
    expect(h.moves).toEqual([2, 2]);
    // A command's caret on another line (Go to Line, a reveal) is followed.
    h.follower.onSelection("u", 10, false);
    h.advance(200);
    expect(h.moves).toEqual([2, 2, 0]);
  });

  it("a closed document's caret is forgotten: its restore on reopening is followed", () => {
    const h = harness();
    h.follower.onSelection("u", 14, false);
    h.advance(200);
    h.commandMoves(0);
    h.follower.forget("u");
    h.follower.onSelection("u", 14, false);
    h.advance(200);
    expect(h.moves).toEqual([2, 2]);
  });
});

describe("the views' state caption", () => {
  it("says before or after which step, 1-based", () => {
    expect(describeState(2, 4, false)).toBe("before step 3 of 4");
    expect(describeState(2, 4, true)).toBe("after step 3 of 4");
    expect(stateStep(2, 4, true)).toBe(3);
    expect(describeState(4, 4, false)).toBe("after step 4 of 4");
    expect(describeState(4, 4, true)).toBe("after step 4 of 4");
    expect(stateStep(4, 4, true)).toBe(4);
    expect(describeState(0, 1, false)).toBe("before step 1 of 1");
    expect(describeState(0, 0, false)).toBe("no workload steps");
  });
});
