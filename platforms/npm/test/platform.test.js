'use strict';
// Unit tests of the candidate logic and the machine detection, with a fake io.
const test = require('node:test');
const assert = require('node:assert/strict');
const platform = require('../lib/platform.js');

const names = (list) => list.map((e) => e.package.replace('@agent-facets/cli-', ''));
const order = (host) => names(platform.candidates(platform.TABLE, { rosetta: false, ...host }));

test('candidate order for every os/arch/libc/AVX2/Rosetta case', () => {
  const cases = [
    // Linux x64: the host's libc first, then AVX2 before baseline when the CPU has AVX2.
    [{ platform: 'linux', arch: 'x64', libc: 'glibc', avx2: true },
      ['linux-x64', 'linux-x64-baseline', 'linux-x64-musl', 'linux-x64-baseline-musl']],
    [{ platform: 'linux', arch: 'x64', libc: 'glibc', avx2: false },
      ['linux-x64-baseline', 'linux-x64', 'linux-x64-baseline-musl', 'linux-x64-musl']],
    [{ platform: 'linux', arch: 'x64', libc: 'musl', avx2: true },
      ['linux-x64-musl', 'linux-x64-baseline-musl', 'linux-x64', 'linux-x64-baseline']],
    [{ platform: 'linux', arch: 'x64', libc: 'musl', avx2: false },
      ['linux-x64-baseline-musl', 'linux-x64-musl', 'linux-x64-baseline', 'linux-x64']],
    // Unknown AVX2 prefers the baseline build, which runs everywhere.
    [{ platform: 'linux', arch: 'x64', libc: 'glibc', avx2: null },
      ['linux-x64-baseline', 'linux-x64', 'linux-x64-baseline-musl', 'linux-x64-musl']],
    [{ platform: 'linux', arch: 'arm64', libc: 'glibc' }, ['linux-arm64', 'linux-arm64-musl']],
    [{ platform: 'linux', arch: 'arm64', libc: 'musl' }, ['linux-arm64-musl', 'linux-arm64']],
    [{ platform: 'darwin', arch: 'arm64' }, ['darwin-arm64']],
    [{ platform: 'darwin', arch: 'x64', avx2: true }, ['darwin-x64', 'darwin-x64-baseline']],
    [{ platform: 'darwin', arch: 'x64', avx2: false }, ['darwin-x64-baseline', 'darwin-x64']],
    // An x64 Node under Rosetta on Apple silicon runs the arm64 binary, x64 ones after.
    [{ platform: 'darwin', arch: 'x64', avx2: false, rosetta: true }, ['darwin-arm64', 'darwin-x64-baseline', 'darwin-x64']],
    [{ platform: 'win32', arch: 'x64', avx2: true }, ['windows-x64', 'windows-x64-baseline']],
    [{ platform: 'win32', arch: 'x64', avx2: false }, ['windows-x64-baseline', 'windows-x64']],
    [{ platform: 'win32', arch: 'arm64' }, ['windows-arm64']],
    [{ platform: 'freebsd', arch: 'x64', avx2: true }, []],
    [{ platform: 'linux', arch: 'ia32', libc: 'glibc' }, []],
  ];
  for (const [host, want] of cases) {
    assert.deepEqual(order(host), want, JSON.stringify(host));
  }
});

/** A fake machine: files, commands and the Node report are given; the rest is absent. */
function fakeIO({ platform: os = 'linux', arch = 'x64', files = {}, commands = {}, report = null, cache = {} } = {}) {
  const calls = [];
  return {
    platform: os,
    arch,
    env: {},
    calls,
    files,
    readFile(f) {
      return f in this.files ? this.files[f] : null;
    },
    exists(f) {
      return f in this.files;
    },
    commands,
    run(command, args) {
      const key = [command, ...args].join(' ');
      calls.push(key);
      return key in this.commands ? this.commands[key] : null;
    },
    report: () => report,
    cache: {
      value: cache,
      get() {
        return this.value;
      },
      set(v) {
        this.value = v;
      },
    },
  };
}

test('libc: Node report, then /etc/alpine-release, then ldd', () => {
  const glibcReport = { header: { glibcVersionRuntime: '2.36' } };
  const muslReport = { header: {} };
  assert.equal(platform.detectLibc(fakeIO({ report: glibcReport })), 'glibc');
  // The report decides before anything else is asked.
  const io = fakeIO({ report: glibcReport, files: { '/etc/alpine-release': '3.20' } });
  assert.equal(platform.detectLibc(io), 'glibc');
  assert.deepEqual(io.calls, []);
  assert.equal(platform.detectLibc(fakeIO({ report: muslReport, files: { '/etc/alpine-release': '3.20' } })), 'musl');
  // No ldd at all (a distroless image): a report without glibc means musl.
  assert.equal(platform.detectLibc(fakeIO({ report: muslReport })), 'musl');
  // No report: ldd decides (musl's ldd prints its banner on stderr, exit 1).
  const musl = { 'ldd --version': { status: 1, output: 'musl libc (x86_64)\nVersion 1.2.4\n' } };
  assert.equal(platform.detectLibc(fakeIO({ commands: musl })), 'musl');
  const gnu = { 'ldd --version': { status: 0, output: 'ldd (Debian GLIBC 2.36-9) 2.36\n' } };
  assert.equal(platform.detectLibc(fakeIO({ commands: gnu })), 'glibc');
  assert.equal(platform.detectLibc(fakeIO()), 'glibc');
});

test('AVX2: /proc/cpuinfo on Linux, sysctl on macOS', () => {
  const cpuinfo = (flags) => ({ '/proc/cpuinfo': `processor\t: 0\nflags\t\t: fpu sse2 ${flags}\n\n` });
  assert.equal(platform.detectAVX2(fakeIO({ files: cpuinfo('avx avx2 bmi2') })), true);
  assert.equal(platform.detectAVX2(fakeIO({ files: cpuinfo('avx avx512f') })), false);
  assert.equal(platform.detectAVX2(fakeIO({ files: cpuinfo('avx2_0') })), false, 'whole flags only');
  assert.equal(platform.detectAVX2(fakeIO()), null, 'unreadable: unknown');
  const mac = (out) => fakeIO({ platform: 'darwin', commands: { 'sysctl -n hw.optional.avx2_0': out } });
  assert.equal(platform.detectAVX2(mac({ status: 0, output: '1\n' })), true);
  assert.equal(platform.detectAVX2(mac({ status: 0, output: '0\n' })), false);
  assert.equal(platform.detectAVX2(mac({ status: 1, output: 'unknown oid' })), null);
});

test('AVX2 on Windows: probed once, then answered from the cache', () => {
  const io = fakeIO({ platform: 'win32', commands: {} });
  io.run = (command, args) => {
    io.calls.push(command);
    assert.equal(command, 'powershell.exe');
    assert.equal(args[args.length - 2], '-EncodedCommand');
    const script = Buffer.from(args[args.length - 1], 'base64').toString('utf16le');
    assert.match(script, /IsProcessorFeaturePresent\(40\)/);
    return { status: 0, output: 'True\r\n' };
  };
  assert.equal(platform.detectAVX2(io), true);
  assert.equal(platform.detectAVX2(io), true);
  assert.deepEqual(io.calls, ['powershell.exe'], 'one probe, then the cache');
  assert.deepEqual(io.cache.value, { avx2: true });

  const cached = fakeIO({ platform: 'win32', cache: { avx2: false } });
  assert.equal(platform.detectAVX2(cached), false);
  assert.deepEqual(cached.calls, []);
});

test('Rosetta: only an x64 Node on macOS asks', () => {
  const translated = { 'sysctl -in sysctl.proc_translated': { status: 0, output: '1\n' } };
  assert.equal(platform.detectRosetta(fakeIO({ platform: 'darwin', arch: 'x64', commands: translated })), true);
  const native = { 'sysctl -in sysctl.proc_translated': { status: 0, output: '0\n' } };
  assert.equal(platform.detectRosetta(fakeIO({ platform: 'darwin', arch: 'x64', commands: native })), false);
  const arm = fakeIO({ platform: 'darwin', arch: 'arm64', commands: translated });
  assert.equal(platform.detectRosetta(arm), false);
  assert.deepEqual(arm.calls, []);
});

test('detectHost puts it together', () => {
  const io = fakeIO({
    files: { '/proc/cpuinfo': 'flags\t: avx2\n' },
    report: { header: { glibcVersionRuntime: '2.36' } },
  });
  assert.deepEqual(platform.detectHost(io), { platform: 'linux', arch: 'x64', libc: 'glibc', avx2: true, rosetta: false });
  const arm = fakeIO({ platform: 'darwin', arch: 'arm64' });
  assert.deepEqual(platform.detectHost(arm), { platform: 'darwin', arch: 'arm64', libc: undefined, avx2: undefined, rosetta: false });
});

test('reportedVersion reads the last token of the first line', () => {
  assert.equal(platform.reportedVersion('facet 1.2.3\n'), '1.2.3');
  assert.equal(platform.reportedVersion('  facet version 1.2.3-rc.1  \nmore\n'), '1.2.3-rc.1');
  assert.equal(platform.reportedVersion(''), '');
});

test('the override: FACET_BIN_OVERRIDE, unless it was followed on the way here', () => {
  assert.equal(platform.overrideOf({}), null);
  assert.equal(platform.overrideOf({ FACET_BIN_OVERRIDE: '' }), null);
  assert.equal(platform.overrideOf({ FACET_BIN_OVERRIDE: '/opt/facet' }), '/opt/facet');
  assert.equal(platform.overrideOf({ FACET_BIN_OVERRIDE: '/opt/facet', FACET_BIN_OVERRIDE_FOLLOWED: '/opt/facet' }), null, 'a launcher the override runs');
  assert.equal(platform.overrideOf({ FACET_BIN_OVERRIDE: '/opt/new', FACET_BIN_OVERRIDE_FOLLOWED: '/opt/facet' }), '/opt/new', 'another override');
});

test('findBinary: the candidates in order', () => {
  // An AVX2 glibc machine where only the baseline package is installed.
  const machine = { '/proc/cpuinfo': 'flags\t: avx2\n' };
  const io = fakeIO({
    files: { ...machine, '/nm/@agent-facets/cli-linux-x64-baseline/bin/facet': '' },
    report: { header: { glibcVersionRuntime: '2.36' } },
  });
  const resolve = (id) => {
    const dir = `/nm/${id.replace(/\/package\.json$/, '')}`;
    if (!(`${dir}/bin/facet` in io.files)) throw new Error('not installed');
    return `${dir}/package.json`;
  };
  const found = platform.findBinary(io, { resolve });
  assert.deepEqual(found, { path: '/nm/@agent-facets/cli-linux-x64-baseline/bin/facet', source: '@agent-facets/cli-linux-x64-baseline', checked: false });
  assert.deepEqual(io.calls, [], 'without a version nothing runs');

  io.files = { ...machine };
  const missing = platform.findBinary(io, { resolve, version: '1.2.3' });
  assert.equal(missing.path, null);
  assert.deepEqual(names(missing.candidates), ['linux-x64', 'linux-x64-baseline', 'linux-x64-musl', 'linux-x64-baseline-musl']);
});

test('findBinary with a version: the first candidate that prints it, else the first installed', () => {
  const bin = (name) => `/nm/@agent-facets/cli-${name}/bin/facet`;
  const io = fakeIO({
    files: { '/proc/cpuinfo': 'flags\t: avx2\n', [bin('linux-x64')]: '', [bin('linux-x64-baseline')]: '' },
    report: { header: { glibcVersionRuntime: '2.36' } },
    commands: {
      [`${bin('linux-x64')} --version`]: { status: 1, output: 'can only be run on AMD64 processors with v3 microarchitecture support' },
      [`${bin('linux-x64-baseline')} --version`]: { status: 0, output: 'facet 1.2.3\n' },
    },
  });
  const resolve = (id) => {
    const dir = `/nm/${id.replace(/\/package\.json$/, '')}`;
    if (!(`${dir}/bin/facet` in io.files)) throw new Error('not installed');
    return `${dir}/package.json`;
  };
  assert.deepEqual(platform.findBinary(io, { resolve, version: '1.2.3' }),
    { path: bin('linux-x64-baseline'), source: '@agent-facets/cli-linux-x64-baseline', checked: true });
  assert.deepEqual(io.calls, [`${bin('linux-x64')} --version`, `${bin('linux-x64-baseline')} --version`]);

  // Another version everywhere: the best installed runs, unchecked.
  assert.deepEqual(platform.findBinary(io, { resolve, version: '2.0.0' }),
    { path: bin('linux-x64'), source: '@agent-facets/cli-linux-x64', checked: false });

  // The right version printed by a binary that then fails (it crashed after
  // its first line, say) is no check passed.
  io.calls.length = 0;
  io.commands = {
    [`${bin('linux-x64')} --version`]: { status: 2, output: 'facet 1.2.3\n' },
    [`${bin('linux-x64-baseline')} --version`]: { status: 0, output: 'facet 1.2.3\n' },
  };
  assert.deepEqual(platform.findBinary(io, { resolve, version: '1.2.3' }),
    { path: bin('linux-x64-baseline'), source: '@agent-facets/cli-linux-x64-baseline', checked: true });
});

test('the not-found message names the candidates, the causes and the repair', () => {
  const host = { platform: 'linux', arch: 'x64', libc: 'glibc', avx2: true, rosetta: false };
  const list = platform.candidates(platform.TABLE, host);
  const plain = platform.notFoundMessage(host, list, { foreign: [], lockfile: null }, '1.2.3');
  for (const want of [
    'did not install the facet binary for this machine',
    'agent-facets@1.2.3 runs one of these packages on linux x64 (glibc, AVX2), and none is installed:',
    '  @agent-facets/cli-linux-x64\n  @agent-facets/cli-linux-x64-baseline\n  @agent-facets/cli-linux-x64-musl\n  @agent-facets/cli-linux-x64-baseline-musl\n',
    '--omit=optional',
    '--no-optional',
    'package-lock.json was made on another OS',
    'node_modules was copied from another machine',
    'rm -rf node_modules package-lock.json && npm install',
    'npm install -g agent-facets@1.2.3',
  ]) {
    assert.ok(plain.includes(want), `missing ${JSON.stringify(want)} in:\n${plain}`);
  }
  assert.ok(!plain.includes('Found instead'));

  const detected = platform.notFoundMessage(host, list, {
    foreign: ['@agent-facets/cli-darwin-arm64'],
    lockfile: { path: '/p/package-lock.json', listsCandidate: false, listsOthers: true },
  }, '1.2.3');
  assert.match(detected, /Found instead: @agent-facets\/cli-darwin-arm64, built for another machine/);
  assert.match(detected, /\/p\/package-lock\.json lists none of these packages but lists other platforms' packages/);
});
