'use strict';
// The launcher (bin/facet) and postinstall (install.js) run for real, as
// processes, in a project laid out as npm lays it out, with small shell scripts
// standing in for the platform binaries.
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
 * is that script.
 */
function project(t, packages = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-launcher-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const wrapper = path.join(dir, 'node_modules', 'agent-facets');
  for (const file of ['bin/facet', 'lib/platform.js', 'lib/platforms.json', 'install.js']) {
    fs.mkdirSync(path.dirname(path.join(wrapper, file)), { recursive: true });
    fs.copyFileSync(path.join(SOURCE, file), path.join(wrapper, file));
  }
  fs.chmodSync(path.join(wrapper, 'bin', 'facet'), 0o755);
  fs.writeFileSync(path.join(wrapper, 'package.json'), JSON.stringify({ name: 'agent-facets', version: VERSION }));
  for (const [name, body] of Object.entries(packages)) {
    const pkg = path.join(dir, 'node_modules', ...name.split('/'));
    fs.mkdirSync(path.join(pkg, 'bin'), { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name, version: VERSION }));
    fs.writeFileSync(path.join(pkg, 'bin', 'facet'), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  }
  return { dir, wrapper, launcher: path.join(wrapper, 'bin', 'facet') };
}

/** A stand-in binary that says which package it is and echoes its arguments. */
const honest = (name) => `echo "facet ${VERSION}"; echo "from ${name}"; echo "args: $*"`;

function launch(p, args = [], env = {}) {
  return childProcess.spawnSync(process.execPath, [p.launcher, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FACET_BIN_OVERRIDE: '', ...env },
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

function postinstall(p, env) {
  return childProcess.spawnSync(process.execPath, [path.join(p.wrapper, 'install.js')], {
    cwd: p.wrapper,
    encoding: 'utf8',
    env: { ...process.env, FACET_BIN_OVERRIDE: '', ...env },
  });
}

test('postinstall under npm puts the verified binary in place of the launcher', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: honest(best) });
  const r = postinstall(p, { npm_config_user_agent: 'npm/11.6.0 node/v20.20.2 linux x64 workspaces/false' });
  assert.equal(r.status, 0);
  assert.equal(r.stderr, '');
  const binary = path.join(p.dir, 'node_modules', ...best.split('/'), 'bin', 'facet');
  assert.equal(fs.statSync(p.launcher).ino, fs.statSync(binary).ino, 'a hard link to the binary');
  assert.deepEqual(fs.readdirSync(path.dirname(p.launcher)), ['facet'], 'no temporary file left');
  const direct = childProcess.spawnSync(p.launcher, ['x'], { encoding: 'utf8' });
  assert.equal(direct.stdout, `facet ${VERSION}\nfrom ${best}\nargs: x\n`);
});

test('postinstall skips a candidate that fails --version (a wrong AVX2 guess)', { skip: !unix }, (t) => {
  const [best, second] = HOST_CANDIDATES.map((e) => e.package);
  const p = project(t, {
    [best]: 'echo "This program can only be run on AMD64 processors with v3 microarchitecture support." >&2; exit 1',
    [second]: honest(second),
  });
  const r = postinstall(p, { npm_config_user_agent: 'npm/11.6.0' });
  assert.equal(r.status, 0);
  const binary = path.join(p.dir, 'node_modules', ...second.split('/'), 'bin', 'facet');
  assert.equal(fs.statSync(p.launcher).ino, fs.statSync(binary).ino);
});

test('postinstall with another package manager caches the binary; the launcher stays and uses it', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const p = project(t, { [best]: honest(best) });
  const launcherText = fs.readFileSync(p.launcher, 'utf8');
  const r = postinstall(p, { npm_config_user_agent: 'pnpm/9.0.0 npm/? node/v20.20.2 linux x64' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.readFileSync(p.launcher, 'utf8'), launcherText, 'the JS launcher is kept');
  const cached = path.join(p.wrapper, 'bin', '.facet');
  const binary = path.join(p.dir, 'node_modules', ...best.split('/'), 'bin', 'facet');
  assert.equal(fs.statSync(cached).ino, fs.statSync(binary).ino);

  // The launcher runs the cache without looking further: remove the package's
  // package.json, which the lookup would need.
  fs.rmSync(path.join(path.dirname(binary), '..', 'package.json'));
  assert.match(launch(p).stdout, new RegExp(`from ${best}`));

  // A cache that cannot start (copied from another machine) is passed over.
  fs.rmSync(cached);
  fs.writeFileSync(cached, 'not an executable', { mode: 0o644 });
  fs.writeFileSync(path.join(path.dirname(binary), '..', 'package.json'), JSON.stringify({ name: best, version: VERSION }));
  const again = launch(p);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`from ${best}`));
});

test('postinstall never fails the install', { skip: !unix }, (t) => {
  const best = HOST_CANDIDATES[0].package;
  const wrong = project(t, { [best]: 'echo "facet 9.9.9"' });
  const launcherText = fs.readFileSync(wrong.launcher, 'utf8');
  let r = postinstall(wrong, { npm_config_user_agent: 'npm/11.6.0' });
  assert.equal(r.status, 0);
  assert.match(r.stderr, /warning, the install goes on/);
  assert.ok(r.stderr.includes(`${best}: `) && r.stderr.includes('printed "facet 9.9.9"; want 1.2.3'), r.stderr);
  assert.equal(fs.readFileSync(wrong.launcher, 'utf8'), launcherText, 'the JS launcher is kept');

  const none = project(t);
  r = postinstall(none, { npm_config_user_agent: 'npm/11.6.0' });
  assert.equal(r.status, 0);
  assert.match(r.stderr, /did not install the facet binary for this machine/);
});
