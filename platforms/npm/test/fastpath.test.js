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
  const a = fastpath.site({ packageDir: '/a/node_modules/agent-facets', version: '1.0.0', env: {}, home: '/h' });
  const b = fastpath.site({ packageDir: '/b/node_modules/agent-facets', version: '1.0.0', env: {}, home: '/h' });
  assert.notEqual(a.cacheFile, b.cacheFile, 'one file per install');
  assert.equal(path.dirname(a.cacheFile), '/h/.cache/agent-facets');
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
  const proc = (pid, args, cwd = null) => ({ pid, ppid: 1, args, cwd: () => cwd });
  const others = (list) => fastpath.othersRunning(s, list);
  assert.equal(others([proc(process.pid, ['node', s.launcher])]), false, 'this process');
  assert.equal(others([proc(1e7, ['npm', 'exec', 'facet'])]), false, 'a bare name is not this file');
  assert.equal(others([proc(1e7, ['/opt/other/facet'])]), false, 'another facet');
  assert.equal(others([proc(1e7, ['/usr/bin/env', 'node', path.join(dir, 'node_modules', '.bin', 'facet')])]), true, 'through the link');
  assert.equal(others([proc(1e7, ['node', 'node_modules/.bin/facet'], dir)]), true, 'relative to its directory');
  assert.equal(others([proc(1e7, ['node', 'node_modules/.bin/facet'])]), true, 'relative, directory unknown: assume so');
  assert.equal(others(null), true, 'processes cannot be listed: assume so');
});
