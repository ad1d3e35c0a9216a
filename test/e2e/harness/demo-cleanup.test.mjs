// `npm run demo` leaves nothing behind: started on a free port with HOME pointing at an empty
// temporary folder, then interrupted (SIGINT, as Ctrl-C sends), it must remove its .e2e/run-*
// folders, stop code-server, and have written nothing under $HOME.
//   E2E_PREFIX=/path/to/.e2e node --test test/e2e/harness/demo-cleanup.test.mjs
// Needs scripts/setup.sh to have run (code-server, Node 24). Takes a minute or two: it packages
// the extension and installs the VSIX, as the demo does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const prefix = resolve(process.env.E2E_PREFIX ?? join(root, '.e2e'));

const freePort = () => new Promise((ok, fail) => {
  const s = createServer();
  s.once('error', fail);
  s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
});
const listening = (port) => new Promise((ok) => {
  const c = connect(port, '127.0.0.1');
  c.once('connect', () => { c.destroy(); ok(true); });
  c.once('error', () => ok(false));
});
/** Every path under dir (relative), folders included. */
const tree = (dir, base = dir) => readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
  const p = join(dir, e.name);
  return [p.slice(base.length + 1), ...(e.isDirectory() ? tree(p, base) : [])];
});

test('npm run demo: SIGINT removes its run folders, stops code-server, writes nothing under HOME', { timeout: 600_000 }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'demo-home-'));
  try {
    const port = await freePort();
    const demo = spawn(process.execPath, [join(root, 'scripts/demo.mjs')], {
      cwd: root,
      env: { ...process.env, HOME: home, PORT: String(port), E2E_PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    demo.stdout.on('data', (b) => { out += b; });
    demo.stderr.on('data', (b) => { out += b; });
    const exited = new Promise((ok) => demo.on('exit', (code, sig) => ok({ code, sig })));
    const ready = await Promise.race([
      new Promise((ok) => { const t = setInterval(() => { if (/removes (\S+) and (\S+)\./.test(out)) { clearInterval(t); ok(true); } }, 100); }),
      exited.then(() => false),
    ]);
    assert.ok(ready, `the demo did not start:\n${out}`);
    const [, a, b] = /removes (\S+) and (\S+)\./.exec(out);
    const runs = [a, b].map((p) => resolve(root, p));
    for (const r of runs) {
      assert.ok(existsSync(r), `${r} exists while the demo runs`);
      assert.match(r, /[\\/]run-[^\\/]+$/);
    }
    assert.ok(await listening(port), `code-server listens on ${port}`);

    demo.kill('SIGINT');
    const end = await exited;
    assert.equal(end.code, 130, `exit after SIGINT:\n${out}`);
    for (const r of runs) assert.equal(existsSync(r), false, `${r} removed`);
    assert.equal(await listening(port), false, 'code-server stopped');
    assert.deepEqual(tree(home), [], 'nothing written under HOME');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
