'use strict';
// The launcher (bin/facet) runs for real, as a process, in a project laid out
// as npm lays it out (or as pnpm does), with small shell scripts standing in
// for the platform binaries.
const test = require('node:test');
const assert = require('node:assert/strict');
const childProcess = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const platform = require('../lib/platform.js');

const SOURCE = path.join(__dirname, '..');
const VERSION = '1.2.3';
const unix = process.platform !== 'win32';

/** The packages this machine would choose from, best first. */
const HOST_CANDIDATES = platform.candidates(platform.TABLE, platform.detectHost(platform.systemIO()));

/**
 * A project with agent-facets installed in node_modules and, for each entry of
 * packages (package name → shell script body), a platform package whose binary
 * is that script. Its command node_modules/.bin/facet is, as layout says:
 * 'link' a symlink to the launcher (npm, yarn, bun), 'shim' a shell script
 * that runs node on it (pnpm), 'none' absent. The user's cache directory is
 * the project's own.
 */
function project(t, packages = {}, layout = 'none') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-launcher-'));
  t.after(() => {
    childProcess.spawnSync('chmod', ['-R', 'u+w', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const wrapper = path.join(dir, 'node_modules', 'agent-facets');
  for (const file of ['bin/facet', 'lib/platform.js', 'lib/fastpath.js', 'lib/platforms.json']) {
    fs.mkdirSync(path.dirname(path.join(wrapper, file)), { recursive: true });
    fs.copyFileSync(path.join(SOURCE, file), path.join(wrapper, file));
  }
  fs.chmodSync(path.join(wrapper, 'bin', 'facet'), 0o755);
  fs.writeFileSync(path.join(wrapper, 'package.json'), JSON.stringify({ name: 'agent-facets', version: VERSION }));
  const binaries = {};
  for (const [name, body] of Object.entries(packages)) {
    const pkg = path.join(dir, 'node_modules', ...name.split('/'));
    fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: VERSION }));
    binaries[name] = path.join(pkg, 'bin', 'facet');
    fs.writeFileSync(binaries[name], `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  const command = path.join(dir, 'node_modules', '.bin', 'facet');
  if (layout !== 'none') fs.mkdirSync(path.dirname(command));
  if (layout === 'link') fs.symlinkSync('../agent-facets/bin/facet', command);
  if (layout === 'shim') {
    fs.writeFileSync(command, `#!/bin/sh\nexec "${process.execPath}" "$(dirname "$0")/../agent-facets/bin/facet" "$@"\n`, { mode: 0o755 });
  }
  const home = path.join(dir, 'home');
  return {
    dir,
    wrapper,
    binaries,
    command,
    launcher: path.join(wrapper, 'bin', 'facet'),
    cache: path.join(home, '.cache', 'agent-facets'),
    env: { HOME: home, XDG_CACHE_HOME: path.join(home, '.cache') },
  };
}

/** A stand-in binary that says which package it is and echoes its arguments. */
const honest = (name) => `echo "facet ${VERSION}"; echo "from ${name}"; echo "args: $*"`;

/** Runs the launcher with node, as pnpm's shim does. */
function launch(p, args = [], env = {}) {
  return childProcess.spawnSync(process.execPath, [p.launcher, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FACET_BIN_OVERRIDE: '', ...p.env, ...env },
  });
}

/** Runs node_modules/.bin/facet, as a user's shell does. */
function command(p, args = []) {
  return childProcess.spawnSync(p.command, args, {
    encoding: 'utf8',
    env: { ...process.env, FACET_BIN_OVERRIDE: '', ...p.env },
  });
}

function script(t, body) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-script-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'facet');
  fs.writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
}

test('runs the best installed candidate, with arguments and stdio passed through', { skip: !unix }, (t) => {
  assert.ok(HOST_CANDIDATES.length >= 2, 'this machine has at least two candidates');
  const [best, second] = HOST_CANDIDATES.map((e) => e.package);
  const p = project(t, { [best]: honest(best), [second]: honest(second) });
  const r = launch(p, ['version', '--json']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `facet ${VERSION}\nfrom ${best}\nargs: version --json\n`);

  const onlySecond = project(t, { [second]: honest(second) });
  assert.match(launch(onlySecond).stdout, new RegExp(`from ${second}`));
});

test('FACET_BIN_OVERRIDE runs that binary', { skip: !unix }, (t) => {
  const p = project(t, { [HOST_CANDIDATES[0].package]: honest('package') });
  const override = script(t, 'echo "override $*"');
  const r = launch(p, ['a', 'b c'], { FACET_BIN_OVERRIDE: override });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'override a b c\n');

  const missing = launch(p, [], { FACET_BIN_OVERRIDE: '/nonexistent/facet' });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /facet: cannot run \/nonexistent\/facet \(from FACET_BIN_OVERRIDE\): .*ENOENT/);
});

test('exit codes pass through', { skip: !unix }, (t) => {
  const p = project(t);
  for (const code of [0, 1, 7, 255]) {
    const r = launch(p, [], { FACET_BIN_OVERRIDE: script(t, `exit ${code}`) });
    assert.equal(r.status, code);
    assert.equal(r.signal, null);
  }
});

test('a death by signal is re-raised, never turned into 0', { skip: !unix }, (t) => {
  const p = project(t);
  for (const [sig, n] of [['SIGSEGV', 11], ['SIGILL', 4], ['SIGKILL', 9], ['SIGTERM', 15], ['SIGINT', 2]]) {
    const r = launch(p, [], { FACET_BIN_OVERRIDE: script(t, `kill -${sig.slice(3)} $$`) });
    // Re-raised: this process dies by the same signal; where Node turns it into
    // an exit, the status is 128 + n.
    assert.ok(r.signal === sig || r.status === 128 + n, `${sig}: status ${r.status}, signal ${r.signal}`);
    assert.notEqual(r.status, 0);
  }
});

test('a signal sent to the launcher reaches the binary', { skip: !unix }, async (t) => {
  const p = project(t);
  const marker = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'facet-sig-')), 'got');
  // A stand-in with no children of its own: it notes the signal and exits 3,
  // or gives up by itself after a minute.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-sig-bin-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'facet');
  fs.writeFileSync(bin, `#!${process.execPath}
process.on('SIGTERM', () => { require('fs').writeFileSync(${JSON.stringify(marker)}, 'TERM'); process.exit(3); });
setTimeout(() => process.exit(9), 60000);
console.log('ready');
`, { mode: 0o755 });
  const child = childProcess.spawn(process.execPath, [p.launcher], {
    env: { ...process.env, FACET_BIN_OVERRIDE: bin },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => child.kill('SIGKILL'));
  await new Promise((resolve) => child.stdout.once('data', resolve)); // the binary runs
  child.kill('SIGTERM');
  const [code, signal] = await new Promise((resolve) => child.on('exit', (...a) => resolve(a)));
  assert.deepEqual([code, signal], [3, null], 'the launcher exits as the binary did');
  assert.equal(fs.readFileSync(marker, 'utf8'), 'TERM');
});

test('nothing installed: one clear message with the candidates, causes and repair', { skip: !unix }, (t) => {
  const p = project(t);
  const r = launch(p);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^facet: your package manager did not install the facet binary for this machine\./);
  for (const e of HOST_CANDIDATES) assert.ok(r.stderr.includes(`  ${e.package}\n`), e.package);
  assert.match(r.stderr, /--omit=optional or --no-optional/);
  assert.match(r.stderr, /rm -rf node_modules package-lock\.json && npm install/);
});

test('the message says when node_modules came from another machine or the lockfile from another OS', { skip: !unix }, (t) => {
  const foreign = platform.TABLE.packages.find((e) => !HOST_CANDIDATES.includes(e)).package;
  const p = project(t, { [foreign]: honest(foreign) });
  fs.writeFileSync(path.join(p.dir, 'package-lock.json'), JSON.stringify({
    lockfileVersion: 3,
    packages: { '': {}, 'node_modules/agent-facets': {}, [`node_modules/${foreign}`]: { optional: true } },
  }));
  const r = launch(p);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`Found instead: ${foreign}, built for another machine`), r.stderr);
  assert.ok(r.stderr.includes(`${path.join(p.dir, 'package-lock.json')} lists none of these packages but lists other platforms' packages`), r.stderr);
});


// The fast path (lib/fastpath.js). A stand-in that prints $0 tells how it was
// started: through the launcher $0 is the platform package's file, run
// directly it is node_modules/.bin/facet.
const started = (name) => `${honest(name)}; echo "as $0"`;
const JS = fs.readFileSync(path.join(SOURCE, 'bin', 'facet'), 'utf8');
const ino = (file) => fs.statSync(file).ino;

function assertLauncher(p, why) {
  assert.equal(fs.readFileSync(p.launcher, 'utf8'), JS, why);
}

test('first run where .bin/facet links to the launcher: the checked binary takes its place', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'link');
  const first = command(p, ['x']);
  assert.equal(first.stderr, '');
  assert.equal(first.stdout, `facet ${VERSION}\nfrom ${best}\nargs: x\nas ${p.binaries[best]}\n`, 'through the launcher');
  assert.equal(first.status, 0);
  assert.equal(ino(p.launcher), ino(p.binaries[best]), 'bin/facet is a hard link to the binary');
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet'], 'no temporary file left');
  assert.ok(!fs.existsSync(p.cache), 'nothing cached: nothing to look up any more');

  const second = command(p, ['y']);
  assert.equal(second.stdout, `facet ${VERSION}\nfrom ${best}\nargs: y\nas ${p.command}\n`, 'the binary itself, no Node');
  assert.equal(second.status, 0);
});

test('first run: a candidate that fails --version (a wrong AVX2 guess) is passed over', { skip: !unix }, (t) => {
  const [best, second] = HOST_CANDIDATES.map((e) => e.package);
  const p = project(t, {
    [best]: 'echo "This program can only be run on AMD64 processors with v3 microarchitecture support." >&2; exit 1',
    [second]: started(second),
  }, 'link');
  const r = command(p, ['x']);
  assert.equal(r.stdout, `facet ${VERSION}\nfrom ${second}\nargs: x\nas ${p.binaries[second]}\n`);
  assert.equal(r.stderr, '');
  assert.equal(ino(p.launcher), ino(p.binaries[second]));
});

test('no candidate prints the version: the first one runs and nothing changes', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: 'echo "facet 9.9.9 $*"; echo oops >&2; exit 4' }, 'link');
  const r = command(p, ['x']);
  assert.deepEqual([r.status, r.stdout, r.stderr], [4, 'facet 9.9.9 x\n', 'oops\n'], 'its outcome and output, nothing added');
  assertLauncher(p, 'an unchecked binary never replaces the launcher');
  assert.ok(!fs.existsSync(p.cache), 'nor is it cached');
});

test('a shim that runs node on the launcher (pnpm): the launcher stays; the lookup is cached', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'shim');
  const want = (arg) => `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`;
  for (const arg of ['first', 'second']) {
    const r = command(p, [arg]);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, want(arg), ''], arg);
    assertLauncher(p, 'node runs bin/facet here: it must stay JavaScript');
  }
  assert.equal(fs.readdirSync(p.cache).length, 1, 'one cached lookup');

  // Later calls run the cached binary without looking: the lookup would need
  // the package's package.json.
  const manifest = path.join(path.dirname(p.binaries[best]), '..', 'package.json');
  fs.renameSync(manifest, `${manifest}.away`);
  assert.equal(command(p, ['cached']).stdout, want('cached'));

  // A binary that changed (reinstalled, upgraded) is looked up again.
  fs.renameSync(`${manifest}.away`, manifest);
  fs.rmSync(p.binaries[best]);
  fs.writeFileSync(p.binaries[best], `#!/bin/sh\necho "facet ${VERSION}"; echo new\n`, { mode: 0o755 });
  fs.renameSync(manifest, `${manifest}.away`);
  assert.equal(command(p).status, 1, 'not from the stale cache: the lookup runs, and finds no package');
  fs.renameSync(`${manifest}.away`, manifest);
  assert.equal(command(p).stdout, `facet ${VERSION}\nnew\n`);
});

test('a cached binary that cannot start is passed over for one that can', { skip: !unix }, (t) => {
  const [best, second] = HOST_CANDIDATES.map((e) => e.package);
  const p = project(t, { [best]: honest(best), [second]: honest(second) }, 'shim');
  assert.match(command(p).stdout, new RegExp(`from ${best}\n`));
  fs.chmodSync(p.binaries[best], 0o644); // same file, no longer executable
  const r = command(p);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, new RegExp(`from ${second}\n`));
});

test('a read-only node_modules is left as it is', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'link');
  childProcess.execFileSync('chmod', ['-R', 'a-w', path.join(p.dir, 'node_modules')]);
  for (const arg of ['first', 'second']) {
    const r = command(p, [arg]);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`, ''], arg);
  }
  assertLauncher(p, 'read-only, even for root');
  assert.equal(fs.readdirSync(p.cache).length, 1, 'the lookup is cached instead');
});

// Root can give a file away; under CI the tests run as root.
const asRoot = unix && process.getuid() === 0;
test('a node_modules owned by another user is left as it is', { skip: !unix || (!asRoot && !process.env.CI) }, (t) => {
  assert.ok(asRoot, 'run as root to give the package to another user');
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'link');
  fs.chownSync(path.dirname(p.launcher), 65534, 65534);
  fs.chownSync(p.launcher, 65534, 65534);
  const r = command(p);
  assert.equal(r.status, 0, r.stderr);
  assertLauncher(p, 'not this user\'s file');
});

test('a launcher hard-linked from a package store is replaced, never written through', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: honest(best) }, 'link');
  const store = path.join(p.dir, 'store-facet');
  fs.renameSync(p.launcher, store);
  fs.linkSync(store, p.launcher); // as bun and pnpm install package files
  assert.equal(command(p).status, 0);
  assert.equal(ino(p.launcher), ino(p.binaries[best]));
  assert.equal(fs.readFileSync(store, 'utf8'), JS, 'the store keeps the launcher');
});

test('while another process may be starting the launcher, the swap waits for a later run', { skip: !unix }, async (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'link');
  // A process that names the command in its arguments, as a launcher that
  // Node has not read yet does.
  const holder = childProcess.spawn('sh', ['-c', 'read line', p.command], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise((resolve) => holder.on('exit', resolve));
  t.after(() => holder.kill('SIGKILL'));
  const r = command(p, ['x']);
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: x\nas ${p.binaries[best]}\n`, '']);
  assertLauncher(p, 'not while another process may read it');
  holder.stdin.end('done\n');
  await exited;

  const later = command(p, ['y']);
  assert.equal(later.stdout, `facet ${VERSION}\nfrom ${best}\nargs: y\nas ${p.binaries[best]}\n`, 'from the cached lookup');
  assert.equal(ino(p.launcher), ino(p.binaries[best]), 'then it takes the fast path');
  assert.equal(command(p, ['z']).stdout, `facet ${VERSION}\nfrom ${best}\nargs: z\nas ${p.command}\n`);
});

test('concurrent first runs all succeed, and the fast path is taken', { skip: !unix }, async (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: honest(best) }, 'link');
  const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => new Promise((resolve) => {
    const child = childProcess.spawn(p.command, [String(i)], { env: { ...process.env, FACET_BIN_OVERRIDE: '', ...p.env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('close', (code) => resolve({ i, code, out, err }));
  })));
  for (const r of runs) {
    assert.deepEqual([r.code, r.out, r.err], [0, `facet ${VERSION}\nfrom ${best}\nargs: ${r.i}\n`, ''], `run ${r.i}`);
  }
  assert.equal(command(p).status, 0);
  assert.equal(ino(p.launcher), ino(p.binaries[best]));
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet']);
});
