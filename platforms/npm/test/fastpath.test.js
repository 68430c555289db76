'use strict';
// Unit tests of the fast path's decisions. The launcher tests run it for real.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const fastpath = require('../lib/fastpath.js');
const platform = require('../lib/platform.js');

const unix = process.platform !== 'win32';

test('the commands package managers make: node_modules/.bin, and <prefix>/bin for npm -g', () => {
  assert.deepEqual(fastpath.commandLinks('/p/node_modules/agent-facets'), ['/p/node_modules/.bin/facet']);
  assert.deepEqual(fastpath.commandLinks('/usr/local/lib/node_modules/agent-facets'),
    ['/usr/local/lib/node_modules/.bin/facet', '/usr/local/bin/facet']);
  assert.deepEqual(fastpath.commandLinks('/src/agent-facets'), [], 'not installed by a package manager');
});

test('the cache lives in the user\'s cache directory', () => {
  assert.equal(fastpath.cacheDir({ XDG_CACHE_HOME: '/x/cache' }, 'linux', '/home/u'), '/x/cache/agent-facets');
  assert.equal(fastpath.cacheDir({ XDG_CACHE_HOME: 'relative' }, 'linux', '/home/u'), '/home/u/.cache/agent-facets');
  assert.equal(fastpath.cacheDir({}, 'darwin', '/Users/u'), '/Users/u/Library/Caches/agent-facets');
  assert.equal(fastpath.cacheDir({ LOCALAPPDATA: 'C:\\Users\\u\\AppData\\Local' }, 'win32', 'C:\\Users\\u'),
    path.join('C:\\Users\\u\\AppData\\Local', 'agent-facets'));
  assert.equal(fastpath.cacheDir({}, 'linux', null), null);
  const at = (packageDir, over = {}) => fastpath.site({ packageDir, version: '1.0.0', env: {}, platform: 'linux', home: '/h', tmpdir: '/t', uid: 1000, machine: 'm1', ...over });
  const a = at('/a/node_modules/agent-facets');
  assert.deepEqual(a.cacheDirs, ['/h/.cache/agent-facets', '/t/agent-facets-1000'], 'then one of this user\'s in the temporary directory');
  assert.deepEqual(at('/a/node_modules/agent-facets', { home: null }).cacheDirs, ['/t/agent-facets-1000'], 'no home');
  assert.deepEqual(at('/a/node_modules/agent-facets', { platform: 'win32', uid: -1, env: { LOCALAPPDATA: '/l' } }).cacheDirs,
    [path.join('/l', 'agent-facets')], 'Windows: no uid, no shared temporary directory');
  assert.match(a.cacheName, /^lookup-[0-9a-f]{8}\.json$/);
  assert.notEqual(a.cacheName, at('/b/node_modules/agent-facets').cacheName, 'one file per install');
  assert.notEqual(a.cacheName, at('/a/node_modules/agent-facets', { machine: 'm2' }).cacheName, 'and per machine');
  assert.equal(a.cacheName, at('/a/node_modules/agent-facets').cacheName, 'stable');
});

test('the machine a lookup is for: OS, CPU, and on Linux the libc and x86-64-v3, not the host name', () => {
  const m = fastpath.machineOf();
  assert.ok(m.startsWith(`${process.platform} ${process.arch} `), m);
  if (os.hostname()) assert.ok(!m.split(' ').includes(os.hostname()), 'containers and laptops change their names');
  if (process.platform === 'linux') {
    assert.match(m, / (glibc|musl)( |$)/, 'this Node\'s libc is known');
    if (process.arch === 'x64') assert.match(m, / (v3|no-v3)$/);
  }
});

test('the machine\'s libc and x86-64-v3 come from /proc/self/maps and /proc/cpuinfo', () => {
  const glibcMaps = '7f0000-7f1000 r-xp 00000000 08:01 1234 /usr/lib/x86_64-linux-gnu/libc.so.6\n';
  const muslMaps = '7f0000-7f1000 r-xp 00000000 08:01 1234 /lib/ld-musl-x86_64.so.1\n';
  const v3 = `processor\t: 0\nflags\t\t: fpu sse2 ${fastpath.V3_CPUINFO_FLAGS.join(' ')}\n`;
  const avx2Only = 'processor\t: 0\nflags\t\t: fpu sse2 avx avx2\n';
  const machine = (maps, cpuinfo) => fastpath.machineOf('linux', 'x64', (file) => ({ '/proc/self/maps': maps, '/proc/cpuinfo': cpuinfo })[file] ?? null);
  assert.equal(machine(glibcMaps, v3), 'linux x64 glibc v3');
  assert.equal(machine(muslMaps, v3), 'linux x64 musl v3');
  assert.equal(machine(glibcMaps, avx2Only), 'linux x64 glibc no-v3');
  assert.equal(machine(null, null), 'linux x64 libc? v3?', 'unreadable');
  // The same verdict as the launcher's choice of binary.
  for (const cpuinfo of [v3, avx2Only]) {
    const chosen = platform.detectV3({ platform: 'linux', readFile: () => cpuinfo });
    assert.equal(machine(glibcMaps, cpuinfo).endsWith(chosen ? ' v3' : ' no-v3'), true, cpuinfo);
  }
  assert.equal(fastpath.machineOf('linux', 'arm64', () => muslMaps), 'linux arm64 musl', 'x86-64-v3 only on x64');
});

test('never on Windows or in a PnP zip, whatever the layout', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-fastpath-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = path.join(dir, 'node_modules', 'agent-facets');
  fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'bin', 'facet'), '');
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'));
  fs.symlinkSync('../agent-facets/bin/facet', path.join(dir, 'node_modules', '.bin', 'facet'));
  const uid = process.getuid ? process.getuid() : -1;
  const at = (over) => fastpath.site({ packageDir: pkg, version: '1.0.0', env: {}, home: dir, uid, platform: 'linux', pnp: false, ...over });
  assert.equal(fastpath.canReplace(at({})), process.platform !== 'win32', 'an npm layout');
  assert.equal(fastpath.canReplace(at({ platform: 'win32' })), false);
  assert.equal(fastpath.canReplace(at({ pnp: true })), false);
  assert.equal(fastpath.canReplace(at({ uid: uid + 1 })), false, 'another user\'s');
});

test('othersRunning: any other process naming the launcher, not this one or its ancestors', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-fastpath-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = path.join(dir, 'node_modules', 'agent-facets');
  fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'bin', 'facet'), '');
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'));
  fs.symlinkSync('../agent-facets/bin/facet', path.join(dir, 'node_modules', '.bin', 'facet'));
  const s = fastpath.site({ packageDir: fs.realpathSync(pkg), version: '1.0.0', env: {}, home: dir, platform: 'darwin' });
  const proc = (pid, args, cwd = null) => ({ pid, ppid: 1, args: () => args, cwd: () => cwd, exe: () => null });
  const others = (list) => fastpath.othersRunning(s, list);
  assert.equal(others([proc(process.pid, ['node', s.launcher])]), false, 'this process');
  assert.equal(others([proc(1e7, ['npm', 'exec', 'facet'])]), false, 'a bare name is not this file');
  assert.equal(others([proc(1e7, ['/opt/other/facet'])]), false, 'another facet');
  assert.equal(others([proc(1e7, ['/usr/bin/env', 'node', path.join(dir, 'node_modules', '.bin', 'facet')])]), true, 'through the link');
  assert.equal(others([proc(1e7, ['node', 'node_modules/.bin/facet'], dir)]), true, 'relative to its directory');
  assert.equal(others([proc(1e7, ['node', 'node_modules/.bin/facet'])]), true, 'relative, directory unknown: assume so');
  assert.equal(others(null), true, 'processes cannot be listed: assume so');
  // After the swap, a call that runs the binary itself needs no launcher.
  const binary = fs.statSync(process.execPath);
  const direct = { ...proc(1e7, [path.join(dir, 'node_modules', '.bin', 'facet')]), exe: () => binary };
  assert.equal(fastpath.othersRunning(s, [direct], new Set(), binary), false, 'the binary run directly');
  assert.equal(fastpath.othersRunning(s, [direct], new Set(), fs.statSync(s.launcher)), true, 'another program');
  assert.equal(fastpath.othersRunning(s, [proc(1e7, ['node', s.launcher])], new Set([1e7])), false, 'an ancestor');
});

test('a bin/facet that is a symlink is never replaced', { skip: process.platform === 'win32' }, (t) => {
  // Node runs the launcher from its real path, so the launcher never finds
  // itself behind a link; should it (a store that links files one by one),
  // renaming over the link would not be what it checked.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-fastpath-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = path.join(dir, 'node_modules', 'agent-facets');
  fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'store-facet'), '');
  fs.symlinkSync(path.join(dir, 'store-facet'), path.join(pkg, 'bin', 'facet'));
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'));
  fs.symlinkSync('../agent-facets/bin/facet', path.join(dir, 'node_modules', '.bin', 'facet'));
  const s = fastpath.site({ packageDir: pkg, version: '1.0.0', env: {}, home: dir, platform: 'linux', pnp: false });
  assert.equal(fastpath.canReplace(s), false);
  fs.rmSync(path.join(pkg, 'bin', 'facet'));
  fs.copyFileSync(path.join(dir, 'store-facet'), path.join(pkg, 'bin', 'facet'));
  assert.equal(fastpath.canReplace(s), true, 'the same layout with a file');
});

/**
 * An npm layout in a new directory: node_modules/agent-facets (version
 * 1.0.0) whose bin/facet is the launcher, linked from node_modules/.bin, and
 * a binary of package 'pkg' for it. site(over) describes it, with no other
 * process running unless over.processes says otherwise.
 */
function layout(t) {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'facet-fastpath-')));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pkg = path.join(dir, 'node_modules', 'agent-facets');
  fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'bin', 'facet'), '#!/usr/bin/env node\n', { mode: 0o755 });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'agent-facets', version: '1.0.0' }));
  fs.mkdirSync(path.join(dir, 'node_modules', '.bin'));
  fs.symlinkSync('../agent-facets/bin/facet', path.join(dir, 'node_modules', '.bin', 'facet'));
  const binary = path.join(dir, 'binary');
  fs.writeFileSync(binary, 'native\n', { mode: 0o755 });
  const found = { path: binary, source: 'pkg' };
  const site = (over = {}) => fastpath.site({
    packageDir: pkg, version: '1.0.0', locate: (name) => (name === 'pkg' ? binary : null),
    env: {}, home: path.join(dir, 'home'), tmpdir: path.join(dir, 'tmp'), platform: process.platform, pnp: false,
    processes: () => [], argv1: path.join(dir, 'node_modules', '.bin', 'facet'), versions: { node: '20' }, ...over,
  });
  return { dir, pkg, bin: path.join(pkg, 'bin'), launcher: path.join(pkg, 'bin', 'facet'), binary, found, site };
}

test('a swap\'s files are named by pid and random bytes: a swap with the same pid in another container keeps its own', { skip: !unix }, (t) => {
  const l = layout(t);
  // Another container's swap under way, with this process's pid, and one
  // whose pid is gone from here (it may live in another PID namespace).
  const gone = require('node:child_process').spawnSync('true').pid;
  const theirs = [`.facet.${process.pid}.tmp`, `.facet.${process.pid}.js`, `.facet.${gone}.0a1b2c3d4e5f.js`];
  for (const name of theirs.slice(0, 2)) fs.writeFileSync(path.join(l.bin, name), 'theirs');
  // Its keep file is a hard link to the launcher, whose mtime is the install's.
  const installed = path.join(l.dir, 'installed-launcher');
  fs.writeFileSync(installed, 'theirs');
  fs.utimesSync(installed, new Date(Date.now() - 3600e3), new Date(Date.now() - 3600e3));
  fs.linkSync(installed, path.join(l.bin, theirs[2]));
  const names = [];
  let during = null; // the directory as the swap renames the binary in
  const rename = fs.renameSync;
  fs.renameSync = function (from, to) {
    names.push(path.basename(String(from)));
    during = fs.readdirSync(l.bin).map((n) => [n, fs.readFileSync(path.join(l.bin, n), 'utf8')]);
    return rename.call(this, from, to);
  };
  let done;
  try {
    done = fastpath.optimize(l.site(), l.found);
  } finally {
    fs.renameSync = rename;
  }
  assert.equal(done, 'replaced');
  assert.equal(fs.statSync(l.launcher).ino, fs.statSync(l.binary).ino);
  assert.match(names[0], new RegExp(`^\\.facet\\.${process.pid}\\.[0-9a-f]{12}\\.tmp$`));
  for (const name of theirs) assert.deepEqual(during.find(([n]) => n === name), [name, 'theirs'], `${name} left alone during the swap`);
  assert.equal(during.length, theirs.length + 3, 'beside the launcher, ours are two files of their own');
  // Once it has succeeded, a swap under way elsewhere finds the launcher
  // changed and gives up: what it left is swept.
  assert.deepEqual(fs.readdirSync(l.bin), ['facet']);
});

test('a swap sweeps leftovers of swaps a minute old before it begins, and all of them once it has succeeded', { skip: !unix }, (t) => {
  const l = layout(t);
  const leftovers = [`.facet.${process.pid}.0a1b2c3d4e5f.tmp`, '.facet.1.js', '.facet.12345.abcdef012345.js'];
  for (const name of leftovers) fs.writeFileSync(path.join(l.bin, name), '');
  // A swap that gives up (another version is being installed) after its sweep.
  const version = (v) => fs.writeFileSync(path.join(l.pkg, 'package.json'), JSON.stringify({ name: 'agent-facets', version: v }));
  version('2.0.0');
  assert.equal(fastpath.optimize(l.site({ now: () => Date.now() + 59000 }), l.found), 'cached');
  assert.deepEqual(fs.readdirSync(l.bin).sort(), [...leftovers, 'facet'].sort(), 'under a minute: maybe a swap under way');
  assert.equal(fastpath.optimize(l.site({ now: () => Date.now() + 61000 }), l.found), 'cached');
  assert.deepEqual(fs.readdirSync(l.bin), ['facet'], 'a minute old: swept');
  assertUnchanged(l);

  // Leftovers of a swap interrupted a moment ago (Ctrl-C, a crash): once the
  // swap succeeds no launcher runs again to sweep them, so it sweeps them all.
  version('1.0.0');
  for (const name of leftovers) fs.writeFileSync(path.join(l.bin, name), 'a copy of the binary');
  assert.equal(fastpath.optimize(l.site(), l.found), 'replaced');
  assert.deepEqual(fs.readdirSync(l.bin), ['facet'], 'swept with the swap');
});

/** The launcher of layout l is still the launcher. */
function assertUnchanged(l) {
  assert.equal(fs.readFileSync(l.launcher, 'utf8'), '#!/usr/bin/env node\n');
}

test('a launcher that another install replaced, or a package.json that changed, is left alone', { skip: !unix }, (t) => {
  const l = layout(t);
  const s = l.site(); // started from this launcher
  // Another install puts its launcher in place while this one swaps: right
  // after this swap looked at the processes and placed the binary.
  const link = fs.linkSync;
  fs.linkSync = function (from, to) {
    if (/\.js$/.test(String(to))) {
      fs.writeFileSync(path.join(l.bin, 'new'), 'new launcher', { mode: 0o755 });
      fs.renameSync(path.join(l.bin, 'new'), l.launcher);
    }
    return link.call(this, from, to);
  };
  let done;
  try {
    done = fastpath.optimize(s, l.found);
  } finally {
    fs.linkSync = link;
  }
  assert.equal(done, 'cached');
  assert.equal(fs.readFileSync(l.launcher, 'utf8'), 'new launcher', 'the new install\'s launcher stays');
  assert.deepEqual(fs.readdirSync(l.bin), ['facet'], 'nothing left of the attempt');

  const other = layout(t);
  const s2 = other.site();
  fs.writeFileSync(path.join(other.pkg, 'package.json'), JSON.stringify({ name: 'agent-facets' })); // mid-install
  assert.equal(fastpath.optimize(s2, other.found), 'cached');
  assert.equal(fs.readFileSync(other.launcher, 'utf8'), '#!/usr/bin/env node\n');
  fs.writeFileSync(path.join(other.pkg, 'package.json'), JSON.stringify({ name: 'agent-facets', version: '2.0.0' }));
  assert.equal(fastpath.optimize(s2, other.found), 'cached', 'another version');
  fs.writeFileSync(path.join(other.pkg, 'package.json'), JSON.stringify({ name: 'agent-facets', version: '1.0.0' }));
  assert.equal(fastpath.optimize(s2, other.found), 'replaced', 'as it started');
});

test('a swap held back is not tried again for a minute: calls in between look at no process', { skip: !unix }, (t) => {
  const l = layout(t);
  let looks = 0;
  let list = null; // the processes cannot be listed
  const at = (time) => l.site({
    now: () => time,
    processes: () => {
      looks++;
      return list;
    },
  });
  const t0 = Date.now();
  assert.equal(fastpath.optimize(at(t0), l.found), 'cached');
  assert.equal(looks, 1);
  const entry = fastpath.readLookup(at(t0));
  assert.equal(entry.fastPath, true);
  assert.equal(entry.retryAfter, t0 + 60000);
  assert.equal(fastpath.optimize(at(t0 + 59000), entry), 'waiting');
  assert.equal(looks, 1, 'no look within the minute');
  // A minute later another process names the launcher: held back again.
  list = [{ pid: 1e7, ppid: 1, args: () => ['node', l.launcher], cwd: () => null, exe: () => null }];
  assert.equal(fastpath.optimize(at(t0 + 61000), entry), 'cached');
  assert.equal(looks, 2);
  const again = fastpath.readLookup(at(t0 + 61000));
  assert.equal(again.retryAfter, t0 + 121000);
  list = [];
  assert.equal(fastpath.optimize(at(t0 + 62000), again), 'waiting');
  assert.equal(fastpath.optimize(at(t0 + 121000), again), 'replaced');
  assert.equal(looks, 4, 'before and after the rename');
});

test('macOS: a ps listing of more than 1 MiB (Electron apps) is read whole', { skip: !unix }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-ps-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // ps -A -ww -o pid= -o ppid= -o args=, as a Mac with many long command lines prints it.
  fs.writeFileSync(path.join(dir, 'ps'), `#!/bin/sh
awk 'BEGIN { for (i = 2; i < 20002; i++) printf "%d 1 /Applications/Editor.app/Contents/Frameworks/Editor Helper (Renderer).app --type=renderer --lang=en-US --field-trial-handle=%0100d\\n", i, i }'
`, { mode: 0o755 });
  const pathBefore = process.env.PATH;
  process.env.PATH = `${dir}${path.delimiter}${pathBefore}`;
  let list;
  try {
    list = fastpath.listProcesses('darwin');
  } finally {
    process.env.PATH = pathBefore;
  }
  assert.ok(list, 'listed');
  assert.equal(list.length, 20000);
  assert.equal(list[19999].pid, 20001);
});

test('a cached lookup behind a symlink is not trusted', { skip: !unix }, (t) => {
  const l = layout(t);
  const s = l.site();
  fastpath.writeLookup(s, l.found, false);
  assert.equal(fastpath.readLookup(s).path, l.binary, 'the file as written is trusted');
  const file = path.join(s.cacheDirs[0], s.cacheName);
  const elsewhere = path.join(l.dir, 'planted.json');
  fs.renameSync(file, elsewhere);
  fs.symlinkSync(elsewhere, file);
  assert.equal(fastpath.readLookup(s), null, 'the same content through a link');
});

test('forget leaves a cache directory of another user\'s alone', { skip: !unix }, (t) => {
  const l = layout(t);
  const s = l.site({ uid: process.getuid() });
  fastpath.writeLookup(s, l.found, false);
  const file = path.join(s.cacheDirs[0], s.cacheName);
  assert.ok(fs.existsSync(file));
  fastpath.forget(l.site({ uid: process.getuid() + 1 }));
  assert.ok(fs.existsSync(file), 'not that user\'s directory: left as it is');
  fastpath.forget(s);
  assert.ok(!fs.existsSync(file), 'its owner\'s forget removes it');
});

test('a FIFO in place of the cached lookup is passed over, never waited on', { skip: !unix }, (t) => {
  const l = layout(t);
  const s = l.site();
  fastpath.writeLookup(s, l.found, false);
  const file = path.join(s.cacheDirs[0], s.cacheName);
  fs.rmSync(file);
  require('node:child_process').execFileSync('mkfifo', [file]);
  // In a process of its own: opening a FIFO that no one writes would block
  // this one for good. The timeout only bounds a failure.
  const r = require('node:child_process').spawnSync(process.execPath, ['-e', `
    const fastpath = require(${JSON.stringify(require.resolve('../lib/fastpath.js'))});
    const s = fastpath.site({ packageDir: ${JSON.stringify(l.pkg)}, version: '1.0.0', env: {}, home: ${JSON.stringify(path.join(l.dir, 'home'))}, tmpdir: ${JSON.stringify(path.join(l.dir, 'tmp'))}, locate: () => ${JSON.stringify(l.binary)} });
    process.stdout.write(JSON.stringify(fastpath.readLookup(s)));
  `], { encoding: 'utf8', timeout: 30000 });
  assert.deepEqual([r.signal, r.status, r.stdout, r.stderr], [null, 0, 'null', '']);
});

test('a binary of another user\'s (not root\'s) is neither swapped in nor cached: it may be planted above the project', { skip: !unix || process.getuid() !== 0 }, (t) => {
  // Root gives the binary away; all else (launcher, cache) stays its own.
  const l = layout(t);
  fs.chownSync(l.binary, 4242, 4242);
  const s = l.site({ uid: 0 });
  assert.equal(fastpath.optimize(s, l.found), 'none');
  assert.notEqual(fs.statSync(l.launcher).ino, fs.statSync(l.binary).ino, 'the launcher stays');
  assert.equal(fastpath.readLookup(s), null, 'nothing cached');
  // Root's own binary is.
  fs.chownSync(l.binary, 0, 0);
  assert.equal(fastpath.optimize(l.site({ uid: 0 }), l.found), 'replaced');
});

test('startedAs: a command link the kernel followed, its package directories as written, and the runtime', { skip: !unix }, (t) => {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'facet-started-')));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  // npm's global layout: <prefix>/bin/facet -> ../lib/node_modules/agent-facets/bin/facet.
  const pkg = path.join(dir, 'lib', 'node_modules', 'agent-facets');
  fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), '{}');
  const launcher = path.join(pkg, 'bin', 'facet');
  fs.writeFileSync(launcher, '');
  fs.mkdirSync(path.join(dir, 'bin'));
  fs.symlinkSync('../lib/node_modules/agent-facets/bin/facet', path.join(dir, 'bin', 'facet'));
  const node = { node: '20' };
  assert.deepEqual(fastpath.startedAs(launcher, path.join(dir, 'bin', 'facet'), node),
    { runtime: 'node', link: true, packageDirs: [pkg], apparent: launcher });
  assert.deepEqual(fastpath.startedAs(launcher, launcher, node), { runtime: 'node', link: false, packageDirs: [pkg], apparent: launcher }, 'node on bin/facet');
  assert.equal(fastpath.startedAs(launcher, path.join(dir, 'bin', 'facet'), { bun: '1.4.4' }).runtime, 'bun');
  assert.equal(fastpath.startedAs(launcher, path.join(dir, 'bin', 'facet'), { deno: '2.9.6' }).runtime, 'deno');
  assert.deepEqual(fastpath.startedAs(launcher, path.join(dir, 'elsewhere'), node), { runtime: 'node', link: false, packageDirs: [], apparent: null }, 'not this launcher');
  // The package directory a link into a cache (bun --backend symlink): both, as written first.
  const project = path.join(dir, 'p', 'node_modules');
  fs.mkdirSync(path.join(project, 'agent-facets', 'bin'), { recursive: true });
  fs.mkdirSync(path.join(project, '.bin'));
  fs.symlinkSync(path.join(pkg, 'package.json'), path.join(project, 'agent-facets', 'package.json'));
  fs.symlinkSync(launcher, path.join(project, 'agent-facets', 'bin', 'facet'));
  fs.symlinkSync('../agent-facets/bin/facet', path.join(project, '.bin', 'facet'));
  assert.deepEqual(fastpath.startedAs(launcher, path.join(project, '.bin', 'facet'), node).packageDirs, [path.join(project, 'agent-facets'), pkg]);
  assert.equal(fastpath.treeRoot(path.join(project, 'agent-facets')), project);
  assert.equal(fastpath.treeRoot(path.join(dir, 'p', 'node_modules', '.pnpm', 'x', 'node_modules', 'y')), project, 'the outermost');
  assert.equal(fastpath.treeRoot('/home/u/.bun/install/cache/agent-facets@1.0.0'), null);
  assert.equal(fastpath.inside('/p/node_modules', '/p/node_modules/@a/b/bin/facet'), true);
  assert.equal(fastpath.inside('/p/node_modules', '/node_modules/@a/b/bin/facet'), false);
  assert.equal(fastpath.inside('/p/node_modules', '/p/node_modules_x/b'), false);
  assert.equal(fastpath.inside('/p/node_modules', '/p/node_modules/..foo/b'), true, 'a name that starts with two dots is inside');
});

test('errors of a swap that may pass, and those that cannot', () => {
  for (const code of ['ENOSPC', 'EDQUOT', 'EROFS', 'EBUSY', 'EIO', 'ETXTBSY', 'EAGAIN']) assert.equal(fastpath.passing({ code }), true, code);
  for (const code of ['EACCES', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EINVAL']) assert.equal(fastpath.passing({ code }), false, code);
  assert.equal(fastpath.passing(new TypeError('a bug')), false, 'no code: a bug, not the file system');
});
