'use strict';
// Unit tests of the fast path's decisions. The launcher tests run it for real.
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const fastpath = require('../lib/fastpath.js');

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

test('the machine a lookup is for: host, OS, CPU, and on Linux the libc and AVX2', () => {
  const m = fastpath.machineOf();
  assert.ok(m.startsWith(`${os.hostname()} ${process.platform} ${process.arch} `), m);
  if (process.platform === 'linux') {
    assert.match(m, / (glibc|musl)( |$)/, 'this Node\'s libc is known');
    if (process.arch === 'x64') assert.match(m, / (avx2|no-avx2)$/);
  }
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
