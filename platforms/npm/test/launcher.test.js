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
// Root can give a file away; under CI the tests run as root.
const asRoot = unix && process.getuid() === 0;

/** The packages this machine would choose from, best first. */
const HOST_CANDIDATES = platform.candidates(platform.TABLE, platform.detectHost(platform.systemIO()));

/**
 * The package whose binary takes the launcher's place here: the best
 * candidate's, except on x64, where it is the baseline build of its libc. A
 * project with that package alone runs and swaps in that one.
 */
const SWAPPED = (() => {
  const best = HOST_CANDIDATES[0];
  if (best.cpu !== 'x64' || best.baseline) return best.package;
  return platform.TABLE.packages.find((e) => e.os === best.os && e.cpu === 'x64' && e.baseline && (e.libc || null) === (best.libc || null)).package;
})();

/**
 * A project with agent-facets installed in node_modules and, for each entry of
 * packages (package name → shell script body), a platform package whose binary
 * is that script; each notes its --version runs (the launcher's checks) in a
 * log that checks() counts. Its command node_modules/.bin/facet is, as layout
 * says: 'link' a symlink to the launcher (npm, yarn, bun), 'shim' a shell
 * script that runs node on it (pnpm), 'none' absent. The user's cache
 * directory and the temporary directory are the project's own. Given where,
 * the platform packages are there, linked from node_modules.
 */
function project(t, packages = {}, layout = 'none', where = null) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-launcher-'));
  t.after(() => {
    childProcess.spawnSync('chmod', ['-R', 'u+w', dir]);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  // A project has a package.json: a node_modules without one is a global prefix.
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'p', version: '1.0.0', private: true }));
  const log = path.join(dir, 'checks.log');
  const wrapper = path.join(dir, 'node_modules', 'agent-facets');
  for (const file of ['bin/facet', 'lib/platform.js', 'lib/fastpath.js', 'lib/doctor.js', 'lib/platforms.json']) {
    fs.mkdirSync(path.dirname(path.join(wrapper, file)), { recursive: true });
    fs.copyFileSync(path.join(SOURCE, file), path.join(wrapper, file));
  }
  fs.chmodSync(path.join(wrapper, 'bin', 'facet'), 0o755);
  fs.writeFileSync(path.join(wrapper, 'package.json'), JSON.stringify({ name: 'agent-facets', version: VERSION }));
  const binaries = {};
  for (const [name, body] of Object.entries(packages)) {
    let pkg = path.join(dir, 'node_modules', ...name.split('/'));
    if (where) {
      const elsewhere = fs.mkdtempSync(path.join(where, 'facet-package-'));
      t.after(() => fs.rmSync(elsewhere, { recursive: true, force: true }));
      fs.mkdirSync(path.dirname(pkg), { recursive: true });
      fs.symlinkSync(elsewhere, pkg);
      pkg = elsewhere;
    }
    fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: VERSION }));
    binaries[name] = path.join(pkg, 'bin', 'facet');
    fs.writeFileSync(binaries[name], `#!/bin/sh\nif [ "$1" = --version ]; then echo "$0" >> '${log}'; fi\n${body}\n`, { mode: 0o755 });
  }
  const command = path.join(dir, 'node_modules', '.bin', 'facet');
  if (layout !== 'none') fs.mkdirSync(path.dirname(command));
  if (layout === 'link') fs.symlinkSync('../agent-facets/bin/facet', command);
  if (layout === 'shim') {
    fs.writeFileSync(command, `#!/bin/sh\nexec "${process.execPath}" "$(dirname "$0")/../agent-facets/bin/facet" "$@"\n`, { mode: 0o755 });
  }
  const home = path.join(dir, 'home');
  const tmp = path.join(dir, 'tmp');
  fs.mkdirSync(home);
  fs.mkdirSync(tmp);
  return {
    dir,
    wrapper,
    binaries,
    command,
    log,
    home,
    launcher: path.join(wrapper, 'bin', 'facet'),
    cache: path.join(home, '.cache', 'agent-facets'),
    tmpCache: unix ? path.join(tmp, `agent-facets-${process.getuid()}`) : null,
    env: { HOME: home, XDG_CACHE_HOME: path.join(home, '.cache'), TMPDIR: tmp },
  };
}

/** How many times the launcher has checked a binary with --version in p. */
function checks(p) {
  return fs.existsSync(p.log) ? fs.readFileSync(p.log, 'utf8').split('\n').length - 1 : 0;
}

/** The lookup p cached in dir (the user's cache by default): its one file, parsed, with its name. */
function cached(p, dir = p.cache) {
  const files = fs.readdirSync(dir);
  assert.equal(files.length, 1, `one cached lookup in ${dir}: ${files}`);
  const file = path.join(dir, files[0]);
  return { file, entry: JSON.parse(fs.readFileSync(file, 'utf8')) };
}

/** A stand-in binary that says which package it is and echoes its arguments. */
const honest = (name) => `echo "facet ${VERSION}"; echo "from ${name}"; echo "args: $*"`;

/** The environment the launcher runs with in p: no override unless env gives one. */
function envOf(p, env = {}) {
  return { ...process.env, FACET_BIN_OVERRIDE: '', FACET_BIN_OVERRIDE_FOLLOWED: '', NODE_OPTIONS: '', ...p.env, ...env };
}

/** Runs the launcher with node, as pnpm's shim does. */
function launch(p, args = [], env = {}) {
  return childProcess.spawnSync(process.execPath, [p.launcher, ...args], { encoding: 'utf8', env: envOf(p, env) });
}

/** Runs node_modules/.bin/facet, as a user's shell does. */
function command(p, args = [], env = {}) {
  return childProcess.spawnSync(p.command, args, { encoding: 'utf8', env: envOf(p, env) });
}

/**
 * Starts node_modules/.bin/facet; resolves to { code, signal, out, err } when
 * it has ended. Given t, it is killed when the test ends (a failed test does
 * not leave it waiting).
 */
function start(p, args, env = {}, t = null) {
  const child = childProcess.spawn(p.command, args, { env: envOf(p, env) });
  if (t) t.after(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { err += d; });
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, out, err })));
}

/**
 * A preload (NODE_OPTIONS=--require) that sets the launcher's clock ms
 * ahead: a swap held back, or a leftover file, is that much older.
 */
function later(p, ms) {
  const file = path.join(p.dir, `later-${ms}.cjs`);
  fs.writeFileSync(file, `const now = Date.now; Date.now = () => now() + ${ms};\n`);
  return file;
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

test('FACET_BIN_OVERRIDE comes before a cached lookup', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: honest(best) }, 'shim');
  assert.equal(command(p, ['x']).status, 0);
  cached(p);
  const override = script(t, 'echo "override $*"');
  const r = command(p, ['y'], { FACET_BIN_OVERRIDE: override });
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, 'override y\n', '']);
});

test('an override that runs a launcher runs that launcher\'s binary once, never round in a loop', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: `${honest(best)}; echo "followed: $FACET_BIN_OVERRIDE_FOLLOWED"` }, 'shim');
  // A wrapper script that runs the launcher, as a user's own override might:
  // it counts its runs and gives up after three.
  const count = path.join(p.dir, 'count');
  const wrapper = script(t, `n=$(($(cat '${count}' 2>/dev/null || echo 0) + 1)); echo $n > '${count}'
[ $n -le 3 ] || { echo loop >&2; exit 99; }
echo "wrapper: $FACET_BIN_OVERRIDE_FOLLOWED"
exec '${p.launcher}' "$@"`);
  const r = command(p, ['x'], { FACET_BIN_OVERRIDE: wrapper });
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, `wrapper: ${wrapper}\nfacet ${VERSION}\nfrom ${best}\nargs: x\nfollowed: ${wrapper}\n`,
    'the launcher runs its binary, which learns that the override was followed');
  assert.equal(r.status, 0);
  assert.equal(fs.readFileSync(count, 'utf8'), '1\n');

  // Another override than the one followed is followed.
  const other = script(t, 'echo "other $*"');
  const again = command(p, ['y'], { FACET_BIN_OVERRIDE: other, FACET_BIN_OVERRIDE_FOLLOWED: wrapper });
  assert.equal(again.stdout, 'other y\n');
});

test('exit codes pass through', { skip: !unix }, (t) => {
  const p = project(t);
  for (const code of [0, 1, 7, 255]) {
    const r = launch(p, [], { FACET_BIN_OVERRIDE: script(t, `exit ${code}`) });
    assert.equal(r.status, code);
    assert.equal(r.signal, null);
  }
});

test('a death by signal is re-raised: the launcher dies by the same signal', { skip: process.platform !== 'linux' }, (t) => {
  const p = project(t);
  for (const sig of ['SIGKILL', 'SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2']) {
    const r = launch(p, [], { FACET_BIN_OVERRIDE: script(t, `kill -${sig.slice(3)} $$`) });
    assert.deepEqual([r.status, r.signal, r.stderr], [null, sig, ''], `${sig}: re-raised, the launcher dies by it too`);
  }
});

test('a death by a core-dumping signal ends the launcher with 128 + n, with no core or report of Node\'s', { skip: !unix }, (t) => {
  const p = project(t);
  // Core files would land in this directory: the launcher's limit is raised,
  // the stand-in's own is 0.
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-core-'));
  t.after(() => fs.rmSync(cwd, { recursive: true, force: true }));
  for (const sig of ['SIGSEGV', 'SIGABRT', 'SIGQUIT', 'SIGILL', 'SIGBUS', 'SIGFPE', 'SIGTRAP', 'SIGSYS', 'SIGUSR1']) {
    const bin = script(t, `ulimit -c 0; kill -${sig.slice(3)} $$`);
    const r = childProcess.spawnSync('sh', ['-c', 'ulimit -c unlimited 2>/dev/null; exec "$0" "$1"', process.execPath, p.launcher],
      { cwd, encoding: 'utf8', env: envOf(p, { FACET_BIN_OVERRIDE: bin }) });
    assert.deepEqual([r.status, r.signal, r.stderr], [128 + os.constants.signals[sig], null, ''], `${sig}: exits quietly`);
    assert.deepEqual(fs.readdirSync(cwd), [], `${sig}: no core, no report`);
  }
});

/**
 * Starts the launcher with a stand-in binary (Node) that prints each SIGINT,
 * SIGQUIT and SIGTERM it gets, says "ready", and exits 3 once its stdin ends
 * (it waits for the test, never for a clock). Given group, the launcher
 * leads a process group of its own, as a shell's job does. until(n) resolves
 * once the binary has printed n signals, with their names.
 */
async function signalled(t, p, group = false) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-sig-bin-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const bin = path.join(dir, 'facet');
  fs.writeFileSync(bin, `#!${process.execPath}
for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM']) process.on(sig, () => console.log(sig));
process.stdin.on('end', () => process.exit(3)).resume();
console.log('ready');
`, { mode: 0o755 });
  const child = childProcess.spawn(process.execPath, [p.launcher], {
    env: envOf(p, { FACET_BIN_OVERRIDE: bin }), stdio: ['pipe', 'pipe', 'inherit'], detached: group,
  });
  t.after(() => child.kill('SIGKILL'));
  const ended = new Promise((resolve) => child.on('exit', (...a) => resolve(a)));
  let out = '';
  const lines = () => out.split('\n').filter((l) => l && l !== 'ready');
  const waiters = [];
  child.stdout.on('data', (d) => {
    out += d;
    for (const w of waiters.splice(0)) w();
  });
  const until = async (n) => {
    while (lines().length < n || !out.startsWith('ready\n')) await new Promise((resolve) => waiters.push(resolve));
    return lines();
  };
  await until(0); // the binary runs, its listeners in
  return { child, ended, until };
}

test('a signal sent to the launcher alone reaches the binary, which decides: SIGINT and SIGQUIT too', { skip: !unix }, async (t) => {
  const p = project(t);
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM']) {
    const { child, ended, until } = await signalled(t, p);
    child.kill(sig); // the launcher alone, as kill -INT <its pid> does
    assert.deepEqual(await until(1), [sig], `${sig}: passed on`);
    child.stdin.end();
    assert.deepEqual(await ended, [3, null], `${sig}: the launcher ends as the binary did`);
  }
});

test('Ctrl-C and Ctrl-\\ from the terminal (the whole process group): the launcher outlives them, the binary decides', { skip: !unix }, async (t) => {
  const p = project(t);
  for (const sig of ['SIGINT', 'SIGQUIT']) {
    const { child, ended, until } = await signalled(t, p, true);
    process.kill(-child.pid, sig); // the terminal's way: every process of the foreground group
    await until(1);
    child.stdin.end();
    assert.deepEqual(await ended, [3, null], `${sig}: the launcher ends as the binary did`);
    // Its own from the terminal, then the launcher's copy, unless the kernel
    // merged the two (a signal pending is not queued twice).
    assert.ok(['1', '2'].includes(String((await until(1)).length)), `${sig}: once or twice`);
    assert.ok((await until(1)).every((l) => l === sig));
  }
});

/**
 * The first bytes of a Linux binary for another CPU than this one's (arm64,
 * or x64 on arm64): the kernel refuses it with ENOEXEC, after which spawn
 * would have /bin/sh read it as a script ("Syntax error").
 */
function foreignELF() {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(2, 16); // an executable
  b.writeUInt16LE(process.arch === 'arm64' ? 62 : 183, 18);
  return Buffer.concat([b, Buffer.from('\n)(\n')]);
}

test('a binary built for another machine is never run: the next candidate is, or the message says so', { skip: process.platform !== 'linux' }, (t) => {
  const [best, second] = HOST_CANDIDATES.map((e) => e.package);
  const p = project(t, { [best]: honest(best), [second]: honest(second) }, 'shim');
  fs.writeFileSync(p.binaries[best], foreignELF()); // node_modules copied from another machine, say
  const r = command(p, ['x']);
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${second}\nargs: x\n`, '']);

  const alone = project(t, { [best]: honest(best) }, 'shim');
  fs.writeFileSync(alone.binaries[best], foreignELF());
  const none = command(alone, ['x']);
  assert.equal(none.status, 1, none.stderr);
  assert.doesNotMatch(none.stderr, /Syntax error/);
  assert.ok(none.stderr.includes(`Installed, but built for another machine:\n  ${best}: ELF ${process.arch === 'arm64' ? 'x64' : 'arm64'}, not for linux ${process.arch}\n`), none.stderr);
  assert.ok(!fs.existsSync(alone.cache), 'nothing cached');

  const override = path.join(p.dir, 'foreign-facet');
  fs.writeFileSync(override, foreignELF(), { mode: 0o755 });
  const o = launch(p, ['x'], { FACET_BIN_OVERRIDE: override });
  assert.equal(o.status, 1);
  assert.match(o.stderr, /^facet: cannot run .*foreign-facet \(from FACET_BIN_OVERRIDE\): it is built for another machine \(ELF \w+, not for linux \w+\)\n$/);
});

test('a cached binary that is now built for another machine is forgotten, and looked up again', { skip: process.platform !== 'linux' }, (t) => {
  const [best, second] = HOST_CANDIDATES.map((e) => e.package);
  const p = project(t, { [best]: honest(best), [second]: honest(second) }, 'shim');
  assert.match(command(p).stdout, new RegExp(`from ${best}\n`));
  // The cached binary's file now holds another machine's binary, and the
  // cache entry names that very file (size, mtime, inode): the cache alone
  // would run it.
  const { file, entry } = cached(p);
  fs.writeFileSync(p.binaries[best], foreignELF());
  const st = fs.statSync(p.binaries[best], { bigint: true });
  fs.writeFileSync(file, JSON.stringify({ ...entry, size: String(st.size), mtime: String(st.mtimeNs / 1000000n), ino: String(st.ino) }));
  const r = command(p, ['y']);
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${second}\nargs: y\n`, '']);
  assert.equal(cached(p).entry.path, p.binaries[second], 'the lookup now names the binary that runs');
});

test('nothing installed: one clear message with the candidates, causes and repair', { skip: !unix }, (t) => {
  const p = project(t);
  const r = launch(p);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^facet: your package manager did not install the facet binary for this machine\./);
  for (const e of HOST_CANDIDATES) assert.ok(r.stderr.includes(`  ${e.package}\n`), e.package);
  assert.match(r.stderr, /--omit=optional or --no-optional/);
  assert.match(r.stderr, /\n {2}npm install --include=optional\n {2}or, for a global install: npm install --global agent-facets@1\.2\.3 --include=optional\n/);
});

test('lib/doctor.js is loaded only when no binary runs: never on the way to a binary', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: honest(best) });
  // Node, at its exit, notes the modules it loaded whose name is doctor.js.
  const note = path.join(p.dir, 'loaded.txt');
  const preload = path.join(p.dir, 'preload.js');
  fs.writeFileSync(preload, `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(note)}, ` +
    `Object.keys(require.cache).filter((f) => f.endsWith('doctor.js')).join('\\n')));\n`);
  const loaded = (args) => {
    fs.rmSync(note, { force: true });
    const r = launch(p, args, { NODE_OPTIONS: `--require ${preload}` });
    return { r, doctor: fs.readFileSync(note, 'utf8') };
  };
  const ran = loaded(['x']);
  assert.equal(ran.r.stdout, `facet ${VERSION}\nfrom ${best}\nargs: x\n`, ran.r.stderr);
  assert.equal(ran.doctor, '', 'the launcher ran the binary without doctor.js');
  // The same launcher with no binary loads it: the note would see it.
  fs.rmSync(path.dirname(p.binaries[best]), { recursive: true });
  fs.rmSync(p.cache, { recursive: true, force: true });
  const none = loaded(['x']);
  assert.equal(none.r.status, 1);
  assert.equal(none.doctor, path.join(p.wrapper, 'lib', 'doctor.js'));
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


test('facet doctor with no binary: the launcher answers, exit 1; with a binary, the binary answers', { skip: !unix }, (t) => {
  const p = project(t);
  fs.writeFileSync(path.join(p.dir, 'package-lock.json'), JSON.stringify({
    lockfileVersion: 3,
    packages: { '': {}, 'node_modules/agent-facets': {}, [`node_modules/${HOST_CANDIDATES[0].package}`]: { optional: true } },
  }));
  fs.writeFileSync(path.join(p.wrapper, '..', '.package-lock.json'), '{}');
  const r = launch(p, ['doctor']); // with this Node: the report names it
  assert.equal(r.status, 1, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^facet doctor: agent-facets@1\.2\.3 found no facet binary that runs on this machine\.\n/);
  assert.ok(r.stdout.includes(`Node.js:     ${process.version} (${process.execPath})\n`), r.stdout);
  for (const e of HOST_CANDIDATES) assert.ok(r.stdout.includes(`  ${e.package}: not installed\n`), e.package);
  assert.ok(r.stdout.includes(`Installed by: npm (${path.join(p.dir, 'node_modules', '.package-lock.json')})\n`), r.stdout);
  assert.ok(r.stdout.includes(`${path.join(p.dir, 'package-lock.json')} lists ${HOST_CANDIDATES[0].package}, which is not installed`), r.stdout);
  assert.ok(r.stdout.endsWith(`To fix:\n  cd ${p.dir} && npm install --include=optional\n`), r.stdout);

  // Any other command: the one-screen message, with npm's fix and the pointer to doctor.
  const other = launch(p, ['x']);
  assert.equal(other.status, 1);
  assert.ok(other.stderr.includes(`To repair (installed by npm):\n  cd ${p.dir} && npm install --include=optional\n`), other.stderr);
  assert.ok(other.stderr.endsWith('\nRun `facet doctor` for details.\n'), other.stderr);

  // A binary that runs: it answers doctor itself.
  const best = HOST_CANDIDATES[0].package;
  const q = project(t, { [best]: honest(best) }, 'shim');
  const ok = command(q, ['doctor']);
  assert.deepEqual([ok.status, ok.stdout, ok.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: doctor\n`, '']);
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
  const best = SWAPPED;
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
  const best = SWAPPED;
  const p = project(t, { [best]: 'echo "facet 9.9.9 $*"; echo oops >&2; exit 4' }, 'link');
  const r = command(p, ['x']);
  assert.deepEqual([r.status, r.stdout, r.stderr], [4, 'facet 9.9.9 x\n', 'oops\n'], 'its outcome and output, nothing added');
  assertLauncher(p, 'an unchecked binary never replaces the launcher');
  assert.ok(!fs.existsSync(p.cache), 'nor is it cached');
});

test('a shim that runs node on the launcher (pnpm): the launcher stays; the lookup is cached, owner-only', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'shim');
  const want = (arg) => `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`;
  for (const arg of ['first', 'second', 'third']) {
    const r = command(p, [arg]);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, want(arg), ''], arg);
    assertLauncher(p, 'node runs bin/facet here: it must stay JavaScript');
  }
  assert.equal(checks(p), 1, 'checked once: later calls run the cached binary without looking');
  const { file, entry } = cached(p);
  assert.equal(entry.path, p.binaries[best]);
  assert.equal(fs.statSync(p.cache).mode & 0o777, 0o700, 'the cache directory is the user\'s alone');
  assert.equal(fs.statSync(file).mode & 0o777, 0o600, 'so is the cached lookup');

  // A binary that changed (reinstalled, upgraded) is looked up again.
  fs.rmSync(p.binaries[best]);
  fs.writeFileSync(p.binaries[best], `#!/bin/sh\nif [ "$1" = --version ]; then echo "$0" >> '${p.log}'; fi\necho "facet ${VERSION}"; echo new\n`, { mode: 0o755 });
  assert.equal(command(p).stdout, `facet ${VERSION}\nnew\n`);
  assert.equal(checks(p), 2, 'looked up again');
  assert.equal(command(p).stdout, `facet ${VERSION}\nnew\n`);
  assert.equal(checks(p), 2, 'and cached again');
});

test('a cached lookup is trusted only when it is this user\'s, for this machine, naming this install\'s binary', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'shim');
  const want = `facet ${VERSION}\nfrom ${best}\nargs: x\nas ${p.binaries[best]}\n`;
  assert.equal(command(p, ['x']).stdout, want);
  const { file, entry } = cached(p);
  const tamper = (change) => fs.writeFileSync(file, JSON.stringify({ ...entry, ...change }));
  const stat = (f) => {
    const st = fs.statSync(f, { bigint: true });
    return { size: String(st.size), mtime: String(st.mtimeNs / 1000000n), ino: String(st.ino) };
  };
  let looked = checks(p);
  const expectLookup = (why) => {
    assert.equal(command(p, ['x']).stdout, want, why);
    assert.equal(checks(p), ++looked, `${why}: looked up again`);
  };

  // Another binary, its identity right: outside this install, or named as
  // another package, it never runs.
  const evil = script(t, 'echo evil');
  tamper({ path: evil, ...stat(evil) });
  expectLookup('a path that is not what this install resolves');
  tamper({ path: evil, source: 'evil', ...stat(evil) });
  expectLookup('a package that is not one of this install');
  tamper({ machine: 'freebsd x64 cpu?' });
  expectLookup('another machine\'s answer');
  tamper({ version: '0.0.1' });
  expectLookup('another version');
  // The binary's file changed since (a reinstall): any one of its marks.
  for (const mark of ['size', 'mtime', 'ino']) {
    tamper({ [mark]: '1' });
    expectLookup(`another ${mark}`);
  }
  tamper({});
  assert.equal(command(p, ['x']).stdout, want);
  assert.equal(checks(p), looked, 'the entry as written is trusted');
});

test('a cached lookup another user owns is not trusted (root under sudo keeps the user\'s HOME)', { skip: !unix || (!asRoot && !process.env.CI) }, (t) => {
  assert.ok(asRoot, 'run as root to give the cache to another user');
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'shim');
  assert.equal(command(p, ['x']).status, 0);
  const { file } = cached(p);
  fs.chownSync(file, 65534, 65534);
  assert.equal(command(p, ['x']).status, 0);
  assert.equal(checks(p), 2, 'a file of another user\'s: looked up again');
  fs.chownSync(file, 0, 0);
  fs.chownSync(p.cache, 65534, 65534);
  assert.equal(command(p, ['x']).status, 0);
  assert.equal(checks(p), 3, 'a directory of another user\'s: looked up again');
  assert.equal(fs.statSync(file).uid, 0, 'and nothing written there');
});

test('without a home of its own (a container run as another user), the lookup is cached in the temporary directory', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'shim');
  // Root may write anywhere: a home of another user's is refused all the same.
  if (asRoot) fs.chownSync(p.home, 65534, 65534);
  else fs.chmodSync(p.home, 0o555);
  const env = { XDG_CACHE_HOME: '' };
  for (const arg of ['first', 'second']) {
    const r = command(p, [arg], env);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`, ''], arg);
  }
  assert.equal(checks(p), 1, 'the second call ran the cached binary');
  assert.deepEqual(fs.readdirSync(p.home), [], 'nothing written in that home');
  assert.equal(cached(p, p.tmpCache).entry.path, p.binaries[best]);
  assert.equal(fs.statSync(p.tmpCache).mode & 0o777, 0o700);
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

test('a cached binary that cannot start is forgotten', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: honest(best) }, 'shim');
  assert.equal(command(p).status, 0);
  cached(p);
  fs.chmodSync(p.binaries[best], 0o644);
  const r = command(p);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^facet: cannot run .* \(from @agent-facets\/cli-/);
  assert.deepEqual(fs.readdirSync(p.cache), [], 'no lookup left to try again');
});

test('a read-only node_modules is left as it is', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  childProcess.execFileSync('chmod', ['-R', 'a-w', path.join(p.dir, 'node_modules')]);
  for (const arg of ['first', 'second']) {
    const r = command(p, [arg]);
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`, ''], arg);
  }
  assertLauncher(p, 'read-only, even for root');
  assert.equal(cached(p).entry.fastPath, false, 'the lookup is cached instead, for good');
});

/**
 * A preload (NODE_OPTIONS=--require) that makes placing the binary in bin/
 * fail with code, as a full disk (ENOSPC), a read-only mount (EROFS) or a
 * file system without links (EPERM) do, for root too.
 */
function failingSwap(p, code) {
  const file = path.join(p.dir, `swap-${code}.cjs`);
  fs.writeFileSync(file, `const fs = require('fs');
const fail = (f) => { if (/\\.facet\\.\\d+\\.[0-9a-f]+\\.tmp$/.test(String(f))) throw Object.assign(new Error('${code}: cannot write ' + f), { code: '${code}' }); };
for (const name of ['linkSync', 'copyFileSync']) {
  const real = fs[name];
  fs[name] = function (from, to, ...rest) { fail(to); return real.call(this, from, to, ...rest); };
}\n`);
  return file;
}

for (const code of ['ENOSPC', 'EROFS', 'EIO', 'EBUSY']) {
  test(`a swap that fails with ${code} (it may pass) is tried again a minute later`, { skip: !unix }, (t) => {
    const best = SWAPPED;
    const p = project(t, { [best]: started(best) }, 'link');
    const want = (arg, as = p.binaries[best]) => [0, `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${as}\n`, ''];
    const r = command(p, ['x'], { NODE_OPTIONS: `--require ${failingSwap(p, code)}` });
    assert.deepEqual([r.status, r.stdout, r.stderr], want('x'), 'the command works, nothing printed');
    assertLauncher(p, 'nothing changed');
    assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet'], 'nothing left of the attempt');
    const { entry } = cached(p);
    assert.equal(entry.fastPath, true, 'the fast path stays on');
    assert.ok(entry.retryAfter > Date.now(), 'for a later call');
    const soon = command(p, ['y']);
    assert.deepEqual([soon.status, soon.stdout, soon.stderr], want('y'), 'from the cached lookup');
    assertLauncher(p, 'not tried again within the minute');
    // Space freed, the file system writable again.
    const later1 = command(p, ['z'], { NODE_OPTIONS: `--require ${later(p, 61000)}` });
    assert.deepEqual([later1.status, later1.stdout, later1.stderr], want('z'));
    assert.equal(ino(p.launcher), ino(p.binaries[best]), 'a minute later it takes the fast path');
    assert.deepEqual(command(p, ['w']).stdout, want('w', p.command)[1]);
    assert.equal(checks(p), 1, 'checked once');
  });
}

test('a swap that cannot work here (EPERM: no hard links, no renames) is not tried again', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  const r = command(p, ['x'], { NODE_OPTIONS: `--require ${failingSwap(p, 'EPERM')}` });
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: x\nas ${p.binaries[best]}\n`, '']);
  assertLauncher(p, 'nothing changed');
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet'], 'nothing left of the attempt');
  assert.equal(cached(p).entry.fastPath, false, 'the lookup is cached, for good');
  assert.equal(command(p, ['y'], { NODE_OPTIONS: `--require ${later(p, 61000)}` }).status, 0);
  assertLauncher(p, 'a later run does not try again');
  assert.equal(checks(p), 1, 'it runs the cached binary');
});

test('a home on a read-only file system: the lookup is cached in the temporary directory, nothing printed', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best) }, 'shim');
  // Every change under the home fails as on a read-only mount, which root
  // cannot write either: unlink too, even of a file that is not there.
  const readOnly = path.join(p.dir, 'read-only-home.cjs');
  fs.writeFileSync(readOnly, `const fs = require('fs');
const home = ${JSON.stringify(p.home)};
const erofs = (f) => { if (String(f).startsWith(home)) throw Object.assign(new Error('EROFS: read-only file system, ' + f), { code: 'EROFS' }); };
for (const name of ['writeFileSync', 'mkdirSync', 'renameSync', 'rmSync', 'unlinkSync', 'openSync']) {
  const real = fs[name];
  fs[name] = function (f, ...rest) {
    if (name !== 'openSync' || /w|a|\\+/.test(String(rest[0]))) erofs(f);
    return real.call(this, f, ...rest);
  };
}\n`);
  fs.mkdirSync(p.cache, { recursive: true, mode: 0o700 }); // there, but not writable
  for (const arg of ['first', 'second']) {
    const r = command(p, [arg], { NODE_OPTIONS: `--require ${readOnly}` });
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`, ''], arg);
  }
  assert.deepEqual(fs.readdirSync(p.cache), [], 'nothing written in the home');
  assert.equal(cached(p, p.tmpCache).entry.path, p.binaries[best], 'the next place was tried');
  assert.equal(checks(p), 1, 'the second call ran the cached binary');
});

test('under Plug\'n\'Play the launcher is left as it is', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  // yarn's PnP runtime, as far as the launcher can see it.
  const pnp = path.join(p.dir, 'pnp.cjs');
  fs.writeFileSync(pnp, 'process.versions.pnp = "3";\n');
  const r = command(p, ['x'], { NODE_OPTIONS: `--require ${pnp}` });
  assert.deepEqual([r.status, r.stderr], [0, '']);
  assertLauncher(p, 'not under PnP');
  assert.equal(cached(p).entry.path, p.binaries[best]);
});

for (const [what, give] of [
  ['bin/facet', (p) => fs.chownSync(p.launcher, 65534, 65534)],
  ['bin directory (writable by all)', (p) => {
    fs.chownSync(path.dirname(p.launcher), 65534, 65534);
    fs.chmodSync(path.dirname(p.launcher), 0o777);
  }],
]) {
  test(`a launcher whose ${what} belongs to another user is left as it is`, { skip: !unix || (!asRoot && !process.env.CI) }, (t) => {
    assert.ok(asRoot, 'run as root to give the package to another user');
    const best = SWAPPED;
    const p = project(t, { [best]: started(best) }, 'link');
    give(p);
    const r = command(p);
    assert.equal(r.status, 0, r.stderr);
    assertLauncher(p, 'not this user\'s');
  });
}

// A bin/facet that is a symlink cannot reach the fast path from a real run
// (Node runs the launcher from its real path, and a link to a lone file leaves
// it without ../lib): fastpath.test.js checks that it would be left alone.

test('a launcher hard-linked from a package store is replaced, never written through', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: honest(best) }, 'link');
  const store = path.join(p.dir, 'store-facet');
  fs.renameSync(p.launcher, store);
  fs.linkSync(store, p.launcher); // as bun and pnpm install package files
  assert.equal(command(p).status, 0);
  assert.equal(ino(p.launcher), ino(p.binaries[best]));
  assert.equal(fs.readFileSync(store, 'utf8'), JS, 'the store keeps the launcher');
});

/** A directory on another file system than the temporary one, or null. */
function otherFileSystem() {
  for (const dir of ['/dev/shm', path.join(__dirname, '..')]) {
    try {
      if (fs.statSync(dir).dev !== fs.statSync(os.tmpdir()).dev) fs.accessSync(dir, fs.constants.W_OK);
      else continue;
      return dir;
    } catch {
      // not this one
    }
  }
  return null;
}
const elsewhere = unix ? otherFileSystem() : null;

test('a binary on another file system is copied into the launcher\'s place, executable by all', { skip: !unix || (!elsewhere && !process.env.CI) }, (t) => {
  assert.ok(elsewhere, 'a writable directory on another file system than the temporary one (/dev/shm)');
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link', elsewhere);
  fs.chmodSync(p.binaries[best], 0o700); // the copy is the launcher's, for everyone who ran it
  const first = command(p, ['x']);
  assert.deepEqual([first.status, first.stderr], [0, '']);
  assert.notEqual(ino(p.launcher), ino(p.binaries[best]), 'a hard link cannot cross file systems');
  assert.deepEqual(fs.readFileSync(p.launcher), fs.readFileSync(p.binaries[best]), 'a copy of the binary');
  assert.equal(fs.statSync(p.launcher).mode & 0o777, 0o755);
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet']);
  assert.equal(command(p, ['y']).stdout, `facet ${VERSION}\nfrom ${best}\nargs: y\nas ${p.command}\n`, 'run directly');
});

test('what an interrupted swap left behind is swept once it is a minute old', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: honest(best) }, 'link');
  const bin = path.dirname(p.launcher);
  // Names of older launchers, and of this one (pid and random bytes).
  const leftovers = ['.facet.7.tmp', '.facet.7.js', `.facet.${process.pid}.0a1b2c3d4e5f.tmp`, '.facet.1.0a1b2c3d4e5f.js'];
  for (const name of leftovers) fs.writeFileSync(path.join(bin, name), '');
  fs.writeFileSync(path.join(bin, '.facet.notes'), ''); // not a swap's
  assert.equal(command(p, [], { NODE_OPTIONS: `--require ${later(p, 61000)}` }).status, 0);
  assert.equal(ino(p.launcher), ino(p.binaries[best]));
  assert.deepEqual(fs.readdirSync(bin).sort(), ['.facet.notes', 'facet']);
});

test('a parent that names the command (sh -c, timeout, xargs) does not hold the swap back', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: honest(best) }, 'link');
  // sh runs the command as its child, and waits for it.
  const r = childProcess.spawnSync('sh', ['-c', '"$0" "$@"; exit $?', p.command, 'x'], { encoding: 'utf8', env: envOf(p) });
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: x\n`, '']);
  assert.equal(ino(p.launcher), ino(p.binaries[best]));
});

test('while another process may be starting the launcher, the swap waits for a later run', { skip: !unix }, async (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  // A process that names the command in its arguments, as a launcher that
  // Node has not read yet does.
  const holder = childProcess.spawn('sh', ['-c', 'read line', p.command], { stdio: ['pipe', 'ignore', 'ignore'] });
  const exited = new Promise((resolve) => holder.on('exit', resolve));
  t.after(() => holder.kill('SIGKILL'));
  const r = command(p, ['x']);
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: x\nas ${p.binaries[best]}\n`, '']);
  assertLauncher(p, 'not while another process may read it');
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet'], 'nothing left of the attempt');
  holder.stdin.end('done\n');
  await exited;

  const soon = command(p, ['y']);
  assert.equal(soon.stdout, `facet ${VERSION}\nfrom ${best}\nargs: y\nas ${p.binaries[best]}\n`, 'from the cached lookup');
  assert.equal(checks(p), 1);
  assertLauncher(p, 'not tried again within the minute');
  const minuteLater = command(p, ['z'], { NODE_OPTIONS: `--require ${later(p, 61000)}` });
  assert.equal(minuteLater.stdout, `facet ${VERSION}\nfrom ${best}\nargs: z\nas ${p.binaries[best]}\n`, 'from the cached lookup');
  assert.equal(checks(p), 1);
  assert.equal(ino(p.launcher), ino(p.binaries[best]), 'a minute later it takes the fast path');
  assert.equal(command(p, ['w']).stdout, `facet ${VERSION}\nfrom ${best}\nargs: w\nas ${p.command}\n`);
});

/** A named pipe in dir: reading it waits for a writer, writing it for a reader. */
function fifo(dir, name) {
  const file = path.join(dir, name);
  childProcess.execFileSync('mkfifo', [file]);
  return file;
}

/**
 * A preload (NODE_OPTIONS=--require) that, when run, writes arrived and waits
 * until go is written; once, or before renaming a file matching `before`.
 * It waits with one read (openSync blocks until the writer opens, readSync
 * until it writes): a preload that reads a FIFO to its end with readFileSync
 * makes Node 20 load the main script under its symlink's path rather than its
 * real one, so that the launcher could not find ../lib.
 */
function barrier(dir, name, arrived, go, before = null) {
  const file = path.join(dir, `${name}.cjs`);
  const wait = `fs.writeFileSync(${JSON.stringify(arrived)}, 'here'); ` +
    `{ const fd = fs.openSync(${JSON.stringify(go)}, 'r'); fs.readSync(fd, Buffer.alloc(16)); fs.closeSync(fd); }`;
  fs.writeFileSync(file, before === null
    ? `const fs = require('fs'); ${wait}\n`
    : `const fs = require('fs'); const rename = fs.renameSync;
fs.renameSync = function (from, to) {
  if (${before}.test(String(from))) { ${wait} }
  return rename.call(this, from, to);
};\n`);
  return file;
}

test('a launcher that starts while the binary takes its place still runs: the launcher is put back in time', { skip: !unix, timeout: 60000 }, async (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  const want = (arg) => `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`;
  // A's swap stops just before its rename: the processes have been looked at,
  // B was not there. B then arrives and stops where Node has started but not
  // read the launcher yet. A renames and goes on; then B reads its script.
  const [aHere, aGo, bHere, bGo] = ['a-here', 'a-go', 'b-here', 'b-go'].map((n) => fifo(p.dir, n));
  const a = start(p, ['a'], { NODE_OPTIONS: `--require ${barrier(p.dir, 'a', aHere, aGo, '/\\.facet\\.\\d+\\.[0-9a-f]+\\.tmp$/')}` }, t);
  await fs.promises.readFile(aHere);
  // B runs a minute later as far as its clock tells: A's put-back holds swaps back for a minute.
  const b = start(p, ['b'], { NODE_OPTIONS: `--require ${barrier(p.dir, 'b', bHere, bGo)} --require ${later(p, 61000)}` }, t);
  await fs.promises.readFile(bHere);
  await fs.promises.writeFile(aGo, 'go');
  const ra = await a;
  assert.deepEqual([ra.code, ra.out, ra.err], [0, want('a'), ''], 'A');
  assertLauncher(p, 'put back: B has yet to read it');
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet']);
  await fs.promises.writeFile(bGo, 'go');
  const rb = await b;
  assert.deepEqual([rb.code, rb.out, rb.err], [0, want('b'), ''], 'B, read as JavaScript');
  assert.equal(ino(p.launcher), ino(p.binaries[best]), 'B, alone, takes the fast path');
});

test('concurrent first runs all succeed, and the fast path is taken', { skip: !unix }, async (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: honest(best) }, 'link');
  const runs = await Promise.all(Array.from({ length: 8 }, (_, i) => start(p, [String(i)])));
  runs.forEach((r, i) => {
    assert.deepEqual([r.code, r.out, r.err], [0, `facet ${VERSION}\nfrom ${best}\nargs: ${i}\n`, ''], `run ${i}`);
  });
  // Those held back by the others wait a minute before they try again.
  assert.equal(command(p, [], { NODE_OPTIONS: `--require ${later(p, 61000)}` }).status, 0);
  assert.equal(ino(p.launcher), ino(p.binaries[best]));
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet']);
});

// Issue 15: the swap never breaks a command, and never runs another user's binary.

test('a launcher started as JavaScript (node on bin/facet, a shim of pnpm global hoisted) is never swapped, and a later call through the link still is', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  const want = (arg, as = p.binaries[best]) => [0, `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${as}\n`, ''];
  // pnpm's global shim with the hoisted linker: exec node …/agent-facets/bin/facet.
  const shim = path.join(p.dir, 'global-bin', 'facet');
  fs.mkdirSync(path.dirname(shim));
  fs.writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${p.launcher}" "$@"\n`, { mode: 0o755 });
  const entryIno = () => ino(cached(p).file);
  let before = null;
  for (const [how, run] of [
    ['node on bin/facet', (arg) => launch(p, [arg])],
    ['a shim that runs node on bin/facet', (arg) => childProcess.spawnSync(shim, [arg], { encoding: 'utf8', env: envOf(p) })],
  ]) {
    for (const arg of ['first', 'second']) {
      const r = run(arg);
      assert.deepEqual([r.status, r.stdout, r.stderr], want(arg), `${how}, ${arg} call`);
      assertLauncher(p, `${how}: bin/facet stays JavaScript`);
      if (before !== null) assert.equal(entryIno(), before, `${how}, ${arg} call: the cached lookup is only read`);
      before = entryIno();
    }
  }
  assert.equal(cached(p).entry.fastPath, true, 'not switched off for good');
  const linked = command(p, ['x']);
  assert.deepEqual([linked.status, linked.stdout, linked.stderr], want('x'));
  assert.equal(ino(p.launcher), ino(p.binaries[best]), 'through the command link: swapped');
  assert.equal(checks(p), 1, 'checked once');
});

/** A preload (NODE_OPTIONS=--require) under which this Node says it is the runtime name (bun, deno). */
function runtime(p, name) {
  const file = path.join(p.dir, `runtime-${name}.cjs`);
  fs.writeFileSync(file, `Object.defineProperty(process.versions, ${JSON.stringify(name)}, { value: '1.0.0', enumerable: true });\n`);
  return file;
}

test('Bun or Deno running the launcher, or a project with deno.json, deno.jsonc or deno.lock: the launcher stays for good', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const cases = [
    ['bun --bun through the link', (p) => ({ NODE_OPTIONS: `--require ${runtime(p, 'bun')}` })],
    ['deno through the link', (p) => ({ NODE_OPTIONS: `--require ${runtime(p, 'deno')}` })],
    ...['deno.json', 'deno.jsonc', 'deno.lock'].map((f) => [`a project with ${f}`, (p) => {
      fs.writeFileSync(path.join(p.dir, f), '{}\n');
      return {};
    }]),
  ];
  for (const [what, setup] of cases) {
    const p = project(t, { [best]: started(best) }, 'link');
    const r = command(p, ['x'], setup(p));
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: x\nas ${p.binaries[best]}\n`, ''], what);
    assertLauncher(p, what);
    assert.equal(cached(p).entry.fastPath, false, `${what}: for good`);
    assert.equal(command(p, ['y']).status, 0);
    assertLauncher(p, `${what}: a later call through the link under Node leaves it too`);
  }
});

test('on x64 the baseline build takes the launcher\'s place: the node_modules may move to a CPU without AVX2', { skip: !unix || HOST_CANDIDATES[0].package === SWAPPED }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: started(best), [SWAPPED]: started(SWAPPED) }, 'link');
  const r = command(p, ['x']);
  assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: x\nas ${p.binaries[best]}\n`, ''], 'the launcher runs the best build');
  assert.equal(ino(p.launcher), ino(p.binaries[SWAPPED]), 'the baseline build takes its place');
  assert.equal(checks(p), 2, 'both checked');
  assert.equal(command(p, ['y']).stdout, `facet ${VERSION}\nfrom ${SWAPPED}\nargs: y\nas ${p.command}\n`);

  // Without a baseline build that passes its check, the launcher stays, for good.
  for (const [what, packages] of [
    ['no baseline build installed', { [best]: started(best) }],
    ['a baseline build that fails its check', { [best]: started(best), [SWAPPED]: 'echo "facet 0.0.1"' }],
  ]) {
    const q = project(t, packages, 'link');
    const first = command(q, ['x']);
    assert.deepEqual([first.status, first.stderr], [0, ''], what);
    assertLauncher(q, what);
    assert.equal(cached(q).entry.fastPath, false, what);
    assert.equal(command(q, ['y']).stdout, `facet ${VERSION}\nfrom ${best}\nargs: y\nas ${q.binaries[best]}\n`, `${what}: the cached lookup`);
  }
});

test('a swap killed half-way leaves files that the next swap sweeps, however young', { skip: !unix }, (t) => {
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  // Killed (SIGKILL: no finally runs) once the binary is placed beside the launcher.
  const kill = path.join(p.dir, 'kill.cjs');
  fs.writeFileSync(kill, `const fs = require('fs'); const link = fs.linkSync;
fs.linkSync = function (from, to) { const r = link.call(this, from, to); if (/\\.facet\\.\\d+\\.[0-9a-f]+\\.js$/.test(String(to))) process.kill(process.pid, 'SIGKILL'); return r; };\n`);
  const killed = command(p, ['x'], { NODE_OPTIONS: `--require ${kill}` });
  assert.equal(killed.signal, 'SIGKILL');
  const bin = path.dirname(p.launcher);
  assert.equal(fs.readdirSync(bin).length, 3, 'the launcher, the placed binary and the kept launcher');
  assertLauncher(p, 'killed before the rename');
  const r = command(p, ['y']);
  assert.deepEqual([r.status, r.stderr], [0, '']);
  assert.equal(ino(p.launcher), ino(p.binaries[best]));
  assert.deepEqual(fs.readdirSync(bin), ['facet'], 'swept with the swap, though under a minute old');
});

test('a platform package above the project (another user may put one in /tmp/node_modules) is never run, and the message says why', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  // The project lives in a shared directory whose node_modules has the package; the project's own has none.
  const shared = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-shared-'));
  t.after(() => fs.rmSync(shared, { recursive: true, force: true }));
  const planted = path.join(shared, 'node_modules', ...best.split('/'));
  fs.mkdirSync(path.join(planted, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(planted, 'package.json'), JSON.stringify({ name: best, version: VERSION }));
  const pwned = path.join(shared, 'pwned');
  fs.writeFileSync(path.join(planted, 'bin', 'facet'), `#!/bin/sh\ntouch '${pwned}'\necho "facet ${VERSION}"\n`, { mode: 0o755 });
  const p = project(t, {}, 'link');
  const moved = path.join(shared, 'project');
  fs.renameSync(p.dir, moved);
  t.after(() => fs.rmSync(moved, { recursive: true, force: true }));
  const q = { ...p, dir: moved, command: path.join(moved, 'node_modules', '.bin', 'facet'), launcher: path.join(moved, 'node_modules', 'agent-facets', 'bin', 'facet') };
  const r = command(q, ['x']);
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.ok(!fs.existsSync(pwned), 'never run');
  const file = path.join(planted, 'bin', 'facet');
  assert.ok(r.stderr.includes(`Found, but never run:\n  ${file} (${best}): it lies outside this project's node_modules (${path.join(moved, 'node_modules')})\n`), r.stderr);
  assert.match(r.stderr, /^facet: your package manager did not install the facet binary for this machine\./);

  // The project's own baseline build runs; the one above is named in one line.
  const base = HOST_CANDIDATES.find((e) => e.package !== best).package;
  const own = path.join(moved, 'node_modules', ...base.split('/'));
  fs.mkdirSync(path.join(own, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(own, 'package.json'), JSON.stringify({ name: base, version: VERSION }));
  fs.writeFileSync(path.join(own, 'bin', 'facet'), `#!/bin/sh\n${honest(base)}\n`, { mode: 0o755 });
  const ok = command(q, ['y']);
  assert.deepEqual([ok.status, ok.stdout, ok.stderr], [0, `facet ${VERSION}\nfrom ${base}\nargs: y\n`,
    `facet: not running ${file} (${best}): it lies outside this project's node_modules (${path.join(moved, 'node_modules')})\n`]);
  assert.ok(!fs.existsSync(pwned), 'never run');
});

test('a workspace root above the project (yarn 1 nohoist, npm, bun and pnpm workspaces hoist there) is the project\'s: its node_modules may hold the platform package', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-ws-'));
  t.after(() => fs.rmSync(ws, { recursive: true, force: true }));
  const hoisted = path.join(ws, 'node_modules', ...best.split('/'));
  fs.mkdirSync(path.join(hoisted, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(hoisted, 'package.json'), JSON.stringify({ name: best, version: VERSION }));
  fs.writeFileSync(path.join(hoisted, 'bin', 'facet'), `#!/bin/sh\n${honest(best)}\n`, { mode: 0o755 });
  const p = project(t, {}, 'link');
  const member = path.join(ws, 'packages', 'a');
  fs.mkdirSync(path.dirname(member), { recursive: true });
  fs.renameSync(p.dir, member);
  const q = { ...p, dir: member, command: path.join(member, 'node_modules', '.bin', 'facet'), launcher: path.join(member, 'node_modules', 'agent-facets', 'bin', 'facet') };
  const outside = `it lies outside this project's node_modules (${path.join(member, 'node_modules')})`;
  const refused = command(q, ['x']);
  assert.equal(refused.status, 1, 'no workspace: above the project');
  assert.ok(refused.stderr.includes(outside), refused.stderr);
  const manifest = path.join(ws, 'package.json');
  fs.writeFileSync(manifest, JSON.stringify({ private: true, workspaces: ['packages/*'] }));
  if (asRoot) {
    fs.chownSync(manifest, 4242, 4242);
    const other = command(q, ['y']);
    assert.equal(other.status, 1, 'a workspace root of another user\'s gets no say');
    assert.ok(other.stderr.includes(outside), other.stderr);
    fs.chownSync(manifest, 0, 0);
  }
  const ok = command(q, ['z']);
  assert.deepEqual([ok.status, ok.stdout, ok.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: z\n`, ''], 'the workspace root\'s package runs');
  fs.rmSync(manifest);
  fs.writeFileSync(path.join(ws, 'pnpm-workspace.yaml'), 'packages:\n  - packages/*\n');
  const pnpm = command(q, ['w']);
  assert.deepEqual([pnpm.status, pnpm.stderr], [0, ''], 'a pnpm workspace root');
});

test('a platform binary of another user (not root, not the owner of agent-facets) is never run', { skip: !unix || (!asRoot && !process.env.CI) }, (t) => {
  assert.ok(asRoot, 'run as root to give the binary to another user');
  const best = SWAPPED;
  const p = project(t, { [best]: started(best) }, 'link');
  fs.chownSync(p.binaries[best], 4242, 4242);
  const r = command(p, ['x']);
  assert.equal(r.status, 1);
  assert.ok(r.stderr.includes(`  ${p.binaries[best]} (${best}): it belongs to uid 4242, not to you (uid 0), root or the owner of agent-facets (uid 0)\n`), r.stderr);
  assert.equal(checks(p), 0, 'not even checked');
  assertLauncher(p, 'nothing swapped');
  // The owner of agent-facets (a node_modules installed by another user) may.
  for (const file of [p.launcher, path.join(p.wrapper, 'lib', 'platform.js')]) fs.chownSync(file, 4242, 4242);
  const ok = command(p, ['y']);
  assert.deepEqual([ok.status, ok.stderr], [0, '']);
  assert.equal(checks(p), 1);
});

test('a package directory that is a link into a cache (bun --backend symlink): the platform package is found from the command\'s path, and the cache is left alone', { skip: !unix }, (t) => {
  const best = SWAPPED;
  // bun links each file of the package from its cache; a directory link does the same for Node.
  for (const links of ['files', 'directory']) {
    const p = project(t, { [best]: started(best) }, 'link');
    const cache = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-cache-'));
    t.after(() => fs.rmSync(cache, { recursive: true, force: true }));
    const stored = path.join(cache, `agent-facets@${VERSION}@@@1`);
    fs.renameSync(p.wrapper, stored);
    if (links === 'directory') {
      fs.symlinkSync(stored, p.wrapper);
    } else {
      for (const file of ['package.json', 'bin/facet', 'lib/platform.js', 'lib/fastpath.js', 'lib/doctor.js', 'lib/platforms.json']) {
        fs.mkdirSync(path.dirname(path.join(p.wrapper, file)), { recursive: true });
        fs.symlinkSync(path.join(stored, file), path.join(p.wrapper, file));
      }
    }
    for (const arg of ['first', 'second']) {
      const r = command(p, [arg]);
      assert.deepEqual([r.status, r.stdout, r.stderr], [0, `facet ${VERSION}\nfrom ${best}\nargs: ${arg}\nas ${p.binaries[best]}\n`, ''], `${links}: ${arg}`);
    }
    assert.equal(fs.readFileSync(path.join(stored, 'bin', 'facet'), 'utf8'), JS, `${links}: the cache, shared by projects, keeps the launcher`);
    assert.deepEqual(fs.readdirSync(path.join(stored, 'bin')), ['facet']);
    assert.equal(cached(p).entry.fastPath, false, links);
  }
});
