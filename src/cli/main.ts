/** The `passthrough` executable (dist/cli.mjs): runs cli.ts with the process's arguments. */
import { runCli } from "./cli.js";

void runCli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
