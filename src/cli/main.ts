/** The `passthrough` executable (dist/cli.mjs): runs cli.ts with the process's arguments. */
import { runCli } from "./cli.js";
import { StreamIo, terminalSafe } from "./output.js";

const io = new StreamIo(process.stdout, process.stderr, process.stdin);
runCli(process.argv.slice(2), io).then(
  async (code) => {
    await io.end();
    // A reader that went away (`| head`) is not a failure: exit quietly as the rest of a pipeline expects.
    process.exitCode = io.closed ? 0 : code;
  },
  (e: unknown) => {
    // A bug, not a usage error: one line, no stack trace (PASSTHROUGH_DEBUG=1 shows it).
    io.err(terminalSafe(`passthrough: internal error: ${e instanceof Error ? e.message : String(e)}\n`) + (process.env.PASSTHROUGH_DEBUG && e instanceof Error ? `${e.stack}\n` : ""));
    process.exitCode = 2;
  },
);
