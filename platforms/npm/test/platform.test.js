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
    [{ platform: 'linux', arch: 'x64', libc: 'glibc', v3: true },
      ['linux-x64', 'linux-x64-baseline', 'linux-x64-musl', 'linux-x64-baseline-musl']],
    [{ platform: 'linux', arch: 'x64', libc: 'glibc', v3: false },
      ['linux-x64-baseline', 'linux-x64', 'linux-x64-baseline-musl', 'linux-x64-musl']],
    [{ platform: 'linux', arch: 'x64', libc: 'musl', v3: true },
      ['linux-x64-musl', 'linux-x64-baseline-musl', 'linux-x64', 'linux-x64-baseline']],
    [{ platform: 'linux', arch: 'x64', libc: 'musl', v3: false },
      ['linux-x64-baseline-musl', 'linux-x64-musl', 'linux-x64-baseline', 'linux-x64']],
    // Unknown AVX2 prefers the baseline build, which runs everywhere.
    [{ platform: 'linux', arch: 'x64', libc: 'glibc', v3: null },
      ['linux-x64-baseline', 'linux-x64', 'linux-x64-baseline-musl', 'linux-x64-musl']],
    [{ platform: 'linux', arch: 'arm64', libc: 'glibc' }, ['linux-arm64', 'linux-arm64-musl']],
    [{ platform: 'linux', arch: 'arm64', libc: 'musl' }, ['linux-arm64-musl', 'linux-arm64']],
    [{ platform: 'darwin', arch: 'arm64' }, ['darwin-arm64']],
    [{ platform: 'darwin', arch: 'x64', v3: true }, ['darwin-x64', 'darwin-x64-baseline']],
    [{ platform: 'darwin', arch: 'x64', v3: false }, ['darwin-x64-baseline', 'darwin-x64']],
    // An x64 Node under Rosetta on Apple silicon runs the arm64 binary, x64 ones after.
    [{ platform: 'darwin', arch: 'x64', v3: false, rosetta: true }, ['darwin-arm64', 'darwin-x64-baseline', 'darwin-x64']],
    [{ platform: 'win32', arch: 'x64', v3: true }, ['windows-x64', 'windows-x64-baseline']],
    [{ platform: 'win32', arch: 'x64', v3: false }, ['windows-x64-baseline', 'windows-x64']],
    [{ platform: 'win32', arch: 'arm64' }, ['windows-arm64']],
    [{ platform: 'freebsd', arch: 'x64', v3: true }, []],
    [{ platform: 'linux', arch: 'ia32', libc: 'glibc' }, []],
  ];
  for (const [host, want] of cases) {
    assert.deepEqual(order(host), want, JSON.stringify(host));
  }
});

/** A fake machine: files, commands and the Node report are given; the rest is absent. */
function fakeIO({ platform: os = 'linux', arch = 'x64', files = {}, commands = {}, report = null, cache = {}, env = {} } = {}) {
  const calls = [];
  return {
    platform: os,
    arch,
    endian: 'LE',
    env,
    calls,
    files,
    readFile(f) {
      return f in this.files ? this.files[f] : null;
    },
    exists(f) {
      return f in this.files;
    },
    head(f) {
      return f in this.files ? Buffer.from(this.files[f], 'latin1') : null;
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

// The x86-64-v3 flags of /proc/cpuinfo, as Go's runtime checks them.
const V3_FLAGS = 'pni ssse3 cx16 sse4_1 sse4_2 popcnt lahf_lm avx avx2 bmi1 bmi2 f16c fma abm movbe';

test('x86-64-v3 on Linux: every flag of the level in /proc/cpuinfo', () => {
  const cpuinfo = (flags) => ({ '/proc/cpuinfo': `processor\t: 0\nflags\t\t: fpu sse2 ${flags}\n\n` });
  assert.equal(platform.detectV3(fakeIO({ files: cpuinfo(V3_FLAGS) })), true);
  // Each flag missing alone: no v3 (AVX2 alone is not enough).
  for (const flag of V3_FLAGS.split(' ').filter((f) => f !== 'abm')) {
    const without = V3_FLAGS.split(' ').filter((f) => f !== flag).join(' ');
    assert.equal(platform.detectV3(fakeIO({ files: cpuinfo(without) })), false, `without ${flag}`);
  }
  assert.equal(platform.detectV3(fakeIO({ files: cpuinfo(V3_FLAGS.replace('avx2', 'avx2_0')) })), false, 'whole flags only');
  // LZCNT (abm) left out of cpuinfo by a hypervisor: BMI1 stands for it.
  assert.equal(platform.detectV3(fakeIO({ files: cpuinfo(V3_FLAGS.replace(' abm', '')) })), true, 'no abm, but bmi1');
  assert.equal(platform.detectV3(fakeIO({ files: cpuinfo(V3_FLAGS.replace(' abm', '').replace(' bmi1', '')) })), false, 'neither abm nor bmi1');
  assert.equal(platform.detectV3(fakeIO({ files: { '/proc/cpuinfo': 'processor\t: 0\n' } })), null, 'no flags: unknown');
  assert.equal(platform.detectV3(fakeIO()), null, 'unreadable: unknown');
});

test('x86-64-v3 on macOS: /usr/sbin/sysctl, CPUID\'s feature names', () => {
  const ask = '/usr/sbin/sysctl -n machdep.cpu.features machdep.cpu.leaf7_features machdep.cpu.extfeatures';
  const leaf1 = 'FPU VME SSE3 PCLMULQDQ SSSE3 FMA CX16 SSE4.1 SSE4.2 MOVBE POPCNT AES XSAVE OSXSAVE AVX1.0 RDRAND F16C';
  const leaf7 = 'RDWRFSGS BMI1 AVX2 SMEP BMI2 ERMS';
  const ext = 'SYSCALL XD 1GBPAGE EM64T LAHF LZCNT PREFETCHW RDTSCP';
  const mac = (output, status = 0) => fakeIO({ platform: 'darwin', commands: { [ask]: { status, output } } });
  assert.equal(platform.detectV3(mac(`${leaf1}\n${leaf7}\n${ext}\n`)), true);
  for (const feature of ['SSE3', 'SSSE3', 'CX16', 'SSE4.1', 'SSE4.2', 'POPCNT', 'LAHF', 'AVX1.0', 'OSXSAVE', 'AVX2', 'BMI1', 'BMI2', 'FMA', 'F16C', 'LZCNT', 'MOVBE']) {
    const out = `${leaf1}\n${leaf7}\n${ext}\n`.split(/(\s)/).filter((w) => w !== feature).join('');
    assert.equal(platform.detectV3(mac(out)), false, `without ${feature}`);
  }
  assert.equal(platform.detectV3(mac('', 1)), null, 'sysctl failed: unknown');
  const io = mac('');
  io.commands = {};
  assert.equal(platform.detectV3(io), null, 'no sysctl: unknown');
  assert.deepEqual(io.calls, [ask], 'by its full path');
});

test('x86-64-v3 on Windows: PowerShell by its full path, probed once, then answered from the cache', () => {
  const probe = (env, answer = 'True\r\n') => {
    const io = fakeIO({ platform: 'win32', env });
    io.run = (command, args) => {
      io.calls.push(command);
      assert.equal(args[args.length - 2], '-EncodedCommand');
      const script = Buffer.from(args[args.length - 1], 'base64').toString('utf16le');
      // SSE3, CX16, SSSE3, SSE4.1, SSE4.2, AVX and AVX2, all of them.
      assert.match(script, /@\(13,14,36,37,38,39,40 \| ForEach-Object \{ \$k::IsProcessorFeaturePresent\(\$_\) \}\) -notcontains \$false/);
      return { status: 0, output: answer };
    };
    return io;
  };
  const io = probe({ SystemRoot: 'D:\\Win' });
  assert.equal(platform.detectV3(io), true);
  assert.equal(platform.detectV3(io), true);
  assert.deepEqual(io.calls, ['D:\\Win\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'], 'one probe by its full path, then the cache');
  assert.deepEqual(io.cache.value, { v3: true });
  const no = probe({}, 'False\r\n');
  assert.equal(platform.detectV3(no), false);
  assert.deepEqual(no.calls, ['C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'], 'SystemRoot unset: C:\\Windows');
  const relative = probe({ SystemRoot: 'Windows' });
  platform.detectV3(relative);
  assert.deepEqual(relative.calls, ['C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'], 'a relative SystemRoot is not taken');

  const cached = fakeIO({ platform: 'win32', cache: { v3: false } });
  assert.equal(platform.detectV3(cached), false);
  assert.deepEqual(cached.calls, []);
});

test('Rosetta: only an x64 Node on macOS asks, /usr/sbin/sysctl by its full path', () => {
  const translated = { '/usr/sbin/sysctl -in sysctl.proc_translated': { status: 0, output: '1\n' } };
  const rosetta = fakeIO({ platform: 'darwin', arch: 'x64', commands: translated });
  assert.equal(platform.detectRosetta(rosetta), true);
  assert.deepEqual(rosetta.calls, ['/usr/sbin/sysctl -in sysctl.proc_translated']);
  const native = { '/usr/sbin/sysctl -in sysctl.proc_translated': { status: 0, output: '0\n' } };
  assert.equal(platform.detectRosetta(fakeIO({ platform: 'darwin', arch: 'x64', commands: native })), false);
  const arm = fakeIO({ platform: 'darwin', arch: 'arm64', commands: translated });
  assert.equal(platform.detectRosetta(arm), false);
  assert.deepEqual(arm.calls, []);
});

test('detectHost puts it together', () => {
  const io = fakeIO({
    files: { '/proc/cpuinfo': `flags\t: ${V3_FLAGS}\n` },
    report: { header: { glibcVersionRuntime: '2.36' } },
  });
  assert.deepEqual(platform.detectHost(io), { platform: 'linux', arch: 'x64', endian: 'LE', libc: 'glibc', v3: true, rosetta: false });
  const arm = fakeIO({ platform: 'darwin', arch: 'arm64' });
  assert.deepEqual(platform.detectHost(arm), { platform: 'darwin', arch: 'arm64', endian: 'LE', libc: undefined, v3: undefined, rosetta: false });
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

/**
 * A resolve for findBinary over io's files: a package is installed under /nm/
 * when its bin/facet is one of them.
 */
function resolverOf(io) {
  return (id) => {
    const dir = `/nm/${id.replace(/\/package\.json$/, '')}`;
    if (!(`${dir}/bin/facet` in io.files)) throw new Error('not installed');
    return `${dir}/package.json`;
  };
}

test('findBinary: the candidates in order', () => {
  // An AVX2 glibc machine where only the baseline package is installed.
  const machine = { '/proc/cpuinfo': `flags\t: ${V3_FLAGS}\n` };
  const io = fakeIO({
    files: { ...machine, '/nm/@agent-facets/cli-linux-x64-baseline/bin/facet': '' },
    report: { header: { glibcVersionRuntime: '2.36' } },
  });
  const resolve = resolverOf(io);
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
    files: { '/proc/cpuinfo': `flags\t: ${V3_FLAGS}\n`, [bin('linux-x64')]: '', [bin('linux-x64-baseline')]: '' },
    report: { header: { glibcVersionRuntime: '2.36' } },
    commands: {
      [`${bin('linux-x64')} --version`]: { status: 1, output: 'can only be run on AMD64 processors with v3 microarchitecture support' },
      [`${bin('linux-x64-baseline')} --version`]: { status: 0, output: 'facet 1.2.3\n' },
    },
  });
  const resolve = resolverOf(io);
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
  const host = { platform: 'linux', arch: 'x64', libc: 'glibc', v3: true, rosetta: false };
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
    '\n  npm install --include=optional\n',
    '\n  or, for a global install: npm install --global agent-facets@1.2.3 --include=optional\n',
  ]) {
    assert.ok(plain.includes(want), `missing ${JSON.stringify(want)} in:\n${plain}`);
  }
  assert.ok(!plain.includes('Found instead'));

  assert.ok(plain.endsWith('\nRun `facet doctor` for details.\n'), plain);

  const detected = platform.notFoundMessage(host, list, {
    foreign: ['@agent-facets/cli-darwin-arm64'],
    install: {
      manager: { name: 'npm', global: false, root: '/p', evidence: ['/p/node_modules/.package-lock.json'] },
      evidence: { omitted: [], foreignLock: '/p/package-lock.json' },
      fix: 'cd /p && npm install --include=optional\nif facet still finds no binary: cd /p && rm -rf node_modules package-lock.json && npm install --include=optional',
    },
  }, '1.2.3');
  assert.match(detected, /Found instead: @agent-facets\/cli-darwin-arm64, built for another machine/);
  assert.match(detected, /\/p\/package-lock\.json lists none of these packages but lists other platforms' packages: it was made on another OS \(npm\/cli#4828\)/);
  assert.ok(detected.includes('To repair (installed by npm):\n  cd /p && npm install --include=optional\n  if facet still finds no binary: cd /p && rm -rf node_modules package-lock.json && npm install --include=optional\n'), detected);
  assert.ok(!detected.includes('Likely causes'), 'the cause is known');

  // Another manager's install: its fix, never npm's.
  const pnpm = platform.notFoundMessage(host, list, {
    foreign: [],
    install: {
      manager: { name: 'pnpm', global: false, root: '/q', evidence: ['/q/node_modules/.modules.yaml'] },
      evidence: { omitted: ['/q/node_modules/.modules.yaml says optionalDependencies were not included (pnpm install --no-optional)'], foreignLock: null },
      fix: 'cd /q && pnpm install',
    },
  }, '1.2.3');
  assert.ok(pnpm.includes('Installed by pnpm, with optional dependencies left out:\n  /q/node_modules/.modules.yaml says'), pnpm);
  assert.ok(pnpm.includes('To repair (installed by pnpm):\n  cd /q && pnpm install\n'), pnpm);
  assert.ok(!/\bnpm install\b/.test(pnpm), `no npm command for a pnpm install:\n${pnpm}`);
  assert.ok(pnpm.endsWith('\nRun `facet doctor` for details.\n'), pnpm);
  assert.ok(pnpm.split('\n').length <= 24, `one screen:\n${pnpm}`);

  // A candidate found but refused: its cause, not a reinstall.
  const refused = platform.notFoundMessage(host, list, {
    foreign: [],
    refused: [{ package: list[0].package, path: '/tmp/node_modules/x/bin/facet', why: 'it lies outside this project\'s node_modules (/p/node_modules)' }],
    install: {
      manager: { name: 'npm', global: false, root: '/p', evidence: [] },
      evidence: { omitted: [], foreignLock: null },
      blocked: true,
      fix: '/tmp/node_modules/x/bin/facet is installed but refused (it lies outside this project\'s node_modules (/p/node_modules)): remove it, or have its owner remove it; reinstalling does not help.',
    },
  }, '1.2.3');
  assert.ok(refused.includes('\nTo repair:\n  /tmp/node_modules/x/bin/facet is installed but refused'), refused);
  assert.ok(!/npm install|Likely causes/.test(refused), refused);
});

test('systemIO.readFile reads regular files only, never waits, and stops at 16 MB', { skip: process.platform === 'win32' }, (t) => {
  const fs = require('fs');
  const os = require('os');
  const path = require('path');
  const childProcess = require('child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'facet-read-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'fifo');
  childProcess.execFileSync('mkfifo', [fifo]);
  const big = path.join(dir, 'big');
  fs.closeSync(fs.openSync(big, 'w'));
  fs.truncateSync(big, 16 * 1024 * 1024 + 1); // sparse: no disk used
  const small = path.join(dir, '.npmrc');
  fs.writeFileSync(small, 'omit=optional\n');
  // In a child process: a read that waits on the FIFO or on stdin (a pipe
  // nobody writes to) is ended by the timeout, and fails the test.
  const files = [fifo, '/dev/stdin', dir, big, small, '/proc/self/status'];
  const script = `const io = require(${JSON.stringify(require.resolve('../lib/platform.js'))}).systemIO();` +
    `process.stdout.write(JSON.stringify(${JSON.stringify(files)}.map((f) => { const t = io.readFile(f); return t === null ? null : t.slice(0, 5); })));`;
  const r = childProcess.spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10000, stdio: ['pipe', 'pipe', 'pipe'] });
  assert.equal(r.error, undefined, 'it returned, without waiting');
  const want = [null, null, null, null, 'omit='];
  if (process.platform === 'linux') want.push('Name:'); // /proc's files say 0 bytes, and are read all the same
  assert.deepEqual(JSON.parse(r.stdout).slice(0, want.length), want);
});

// Headers of executables, as the linkers write them: the first bytes only.

/** An ELF header: class (32/64), byte order, OSABI and e_machine. */
function elf(machine, { bits = 64, endian = 'LE', osabi = 0 } = {}) {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = bits === 64 ? 2 : 1;
  b[5] = endian === 'LE' ? 1 : 2;
  b[6] = 1;
  b[7] = osabi;
  if (endian === 'LE') b.writeUInt16LE(machine, 18);
  else b.writeUInt16BE(machine, 18);
  return b;
}

/** A thin Mach-O header (64-bit, little-endian) of cputype. */
function macho(cputype) {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(0xfeedfacf, 0);
  b.writeUInt32LE(cputype, 4);
  return b;
}

/** A universal Mach-O header listing cputypes. */
function fat(...cputypes) {
  const b = Buffer.alloc(8 + 20 * cputypes.length);
  b.writeUInt32BE(0xcafebabe, 0);
  b.writeUInt32BE(cputypes.length, 4);
  cputypes.forEach((t, i) => b.writeUInt32BE(t, 8 + 20 * i));
  return b;
}

/** A PE image: the MZ stub pointing at the PE header at 0x80, of machine. */
function pe(machine) {
  const b = Buffer.alloc(0x100);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(machine, 0x84);
  return b;
}

test('executable headers: the table has the numbers of the specifications', () => {
  // ELF e_machine (System V ABI, EM_*), Mach-O cputype (mach/machine.h,
  // CPU_TYPE_*), PE Machine (IMAGE_FILE_MACHINE_*), typed here a second time.
  const spec = {
    x64: [62, 0x01000007, 0x8664], arm64: [183, 0x0100000c, 0xaa64], ia32: [3, 7, 0x14c], arm: [40, 12, 0x1c4],
    riscv64: [243, undefined, 0x5064], loong64: [258, undefined, 0x6264], ppc64: [21, 0x01000012, undefined],
    ppc: [20, 18, undefined], s390x: [22, undefined, undefined], s390: [22, undefined, undefined],
    mips: [8, undefined, undefined], mipsel: [8, undefined, undefined], mips64: [8, undefined, undefined], mips64el: [8, undefined, undefined],
  };
  assert.deepEqual(Object.fromEntries(platform.CPUS.map((c) => [c.cpu, [c.elf, c.macho, c.pe]])), spec);
});

test('executable headers: every CPU of the table, in each format it has', () => {
  for (const row of platform.CPUS) {
    const endians = row.endian ? [row.endian] : ['LE', 'BE'];
    for (const endian of endians) {
      const exe = platform.readExecutable(elf(row.elf, { bits: row.bits, endian }));
      assert.deepEqual([exe.format, exe.cpus, exe.endian], ['ELF', [row.cpu], endian], `ELF ${row.cpu} ${endian}`);
      const host = { platform: 'linux', arch: row.cpu, endian };
      assert.equal(platform.runsOn(exe, host), true, `ELF ${row.cpu} ${endian} on its own machine`);
      assert.equal(platform.runsOn(exe, { ...host, endian: endian === 'LE' ? 'BE' : 'LE' }), false, `ELF ${row.cpu} ${endian}, other byte order`);
      for (const other of platform.CPUS.filter((c) => c.cpu !== row.cpu)) {
        assert.equal(platform.runsOn(exe, { ...host, arch: other.cpu }), false, `ELF ${row.cpu} on ${other.cpu}`);
      }
      assert.equal(platform.runsOn(exe, { ...host, platform: 'darwin' }), false, `ELF ${row.cpu} on macOS`);
      assert.equal(platform.runsOn(exe, { ...host, platform: 'win32' }), false, `ELF ${row.cpu} on Windows`);
    }
    if (row.macho !== undefined) {
      const exe = platform.readExecutable(macho(row.macho));
      assert.deepEqual([exe.format, exe.cpus], ['Mach-O', [row.cpu]], `Mach-O ${row.cpu}`);
      assert.equal(platform.runsOn(exe, { platform: 'darwin', arch: row.cpu, endian: 'LE', rosetta: false }), true);
      assert.equal(platform.runsOn(exe, { platform: 'linux', arch: row.cpu, endian: 'LE' }), false, `Mach-O ${row.cpu} on Linux`);
    }
    if (row.pe !== undefined) {
      const exe = platform.readExecutable(pe(row.pe));
      assert.deepEqual([exe.format, exe.cpus], ['PE', [row.cpu]], `PE ${row.cpu}`);
      assert.equal(platform.runsOn(exe, { platform: 'win32', arch: row.cpu, endian: 'LE' }), true);
      assert.equal(platform.runsOn(exe, { platform: 'linux', arch: row.cpu, endian: 'LE' }), false, `PE ${row.cpu} on Linux`);
      const other = row.cpu === 'x64' ? 'arm64' : 'x64';
      assert.equal(platform.runsOn(exe, { platform: 'win32', arch: other, endian: 'LE' }), false, `PE ${row.cpu} on ${other}`);
    }
  }
  // Every CPU of the Go table (platforms.json) is in the header table.
  for (const entry of platform.TABLE.packages) {
    assert.ok(platform.CPUS.some((c) => c.cpu === entry.cpu), `${entry.package}: a row for ${entry.cpu}`);
  }
});

test('executable headers: OS, universal binaries, Rosetta, and files that are no binary', () => {
  const linuxX64 = { platform: 'linux', arch: 'x64', endian: 'LE' };
  assert.equal(platform.runsOn(platform.readExecutable(elf(62, { osabi: 3 })), linuxX64), true, 'OSABI GNU/Linux');
  assert.equal(platform.runsOn(platform.readExecutable(elf(62, { osabi: 9 })), linuxX64), false, 'a FreeBSD binary');
  assert.equal(platform.runsOn(platform.readExecutable(elf(62, { osabi: 9 })), { ...linuxX64, platform: 'freebsd' }), true);
  assert.equal(platform.runsOn(platform.readExecutable(elf(62, { bits: 32 })), linuxX64), false, 'x32: EM_X86_64 in a 32-bit ELF');
  assert.equal(platform.runsOn(platform.readExecutable(elf(0x1234)), linuxX64), false, 'a CPU of no row');
  assert.match(platform.readExecutable(elf(183)).what, /^ELF arm64$/);

  const universal = platform.readExecutable(fat(0x01000007, 0x0100000c));
  assert.deepEqual(universal.cpus, ['x64', 'arm64']);
  assert.equal(platform.runsOn(universal, { platform: 'darwin', arch: 'arm64', rosetta: false }), true);
  assert.equal(platform.runsOn(universal, { platform: 'darwin', arch: 'x64', rosetta: false }), true);
  const arm = platform.readExecutable(macho(0x0100000c));
  assert.equal(platform.runsOn(arm, { platform: 'darwin', arch: 'x64', rosetta: true }), true, 'Rosetta: arm64 runs');
  assert.equal(platform.runsOn(arm, { platform: 'darwin', arch: 'x64' }), true, 'maybe Rosetta: Intel refuses it by an error of spawn');
  assert.equal(platform.runsOn(arm, { platform: 'darwin', arch: 'x64', rosetta: false }), false, 'an Intel Mac');
  assert.equal(platform.runsOn(platform.readExecutable(macho(0x01000007)), { platform: 'darwin', arch: 'arm64' }), false, 'no Rosetta for the arm64 Node');

  const java = Buffer.alloc(64);
  java.writeUInt32BE(0xcafebabe, 0);
  java.writeUInt32BE(52, 4); // class file version 52: not a count of slices
  for (const bytes of [Buffer.from('#!/bin/sh\necho hi\n'), Buffer.alloc(0), null, java, Buffer.from('\x7fELF')]) {
    assert.equal(platform.readExecutable(bytes), null, String(bytes));
    assert.equal(platform.runsOn(platform.readExecutable(bytes), linuxX64), true, 'a script: its interpreter decides');
  }
  assert.equal(platform.runsOn(platform.readExecutable(elf(62)), { platform: 'aix', arch: 'ppc64', endian: 'BE' }), true, 'a system of no format: cannot tell');
});

test('findBinary passes over a binary built for another machine, and the message names it', () => {
  const bin = (name) => `/nm/@agent-facets/cli-${name}/bin/facet`;
  const io = fakeIO({
    files: {
      '/proc/cpuinfo': `flags\t: ${V3_FLAGS}\n`,
      [bin('linux-x64')]: elf(183).toString('latin1'), // an arm64 binary in the x64 package
      [bin('linux-x64-baseline')]: elf(62).toString('latin1'),
    },
    report: { header: { glibcVersionRuntime: '2.36' } },
    commands: { [`${bin('linux-x64-baseline')} --version`]: { status: 0, output: 'facet 1.2.3\n' } },
  });
  const resolve = resolverOf(io);
  assert.deepEqual(platform.findBinary(io, { resolve, version: '1.2.3' }),
    { path: bin('linux-x64-baseline'), source: '@agent-facets/cli-linux-x64-baseline', checked: true });
  assert.deepEqual(io.calls, [`${bin('linux-x64-baseline')} --version`], 'the foreign one is never run');
  assert.equal(platform.findBinary(io, { resolve }).path, bin('linux-x64-baseline'), 'unchecked too');

  delete io.files[bin('linux-x64-baseline')];
  const none = platform.findBinary(io, { resolve, version: '1.2.3' });
  assert.equal(none.path, null);
  assert.deepEqual(none.mismatched, ['@agent-facets/cli-linux-x64: ELF arm64, not for linux x64']);
  const message = platform.notFoundMessage(none.host, none.candidates, { foreign: [], lockfile: null, mismatched: none.mismatched }, '1.2.3');
  assert.ok(message.includes('Installed, but built for another machine:\n  @agent-facets/cli-linux-x64: ELF arm64, not for linux x64\n'), message);
});

/**
 * A fake process for run(): its signal listeners, the signals it sends and
 * its exit, and a fake child that the test ends.
 */
function fakeProcess(platformName) {
  const { EventEmitter } = require('node:events');
  const sys = {
    platform: platformName,
    pid: 100,
    listeners: {},
    sent: [],
    exited: [],
    on(sig, h) {
      (this.listeners[sig] = this.listeners[sig] || []).push(h);
    },
    off(sig, h) {
      this.listeners[sig] = (this.listeners[sig] || []).filter((x) => x !== h);
    },
    signal(sig) {
      const hs = this.listeners[sig] || [];
      if (!hs.length) throw new Error(`no listener for ${sig}: the launcher would die by it`);
      for (const h of hs) h();
    },
    kill(pid, sig) {
      this.sent.push([pid, sig]);
    },
    exit(code) {
      this.exited.push(code);
    },
    spawn() {
      const child = new EventEmitter();
      child.exitCode = null;
      child.signalCode = null;
      child.killed = [];
      child.kill = (sig) => child.killed.push(sig);
      child.end = (code, sig) => {
        child.exitCode = code;
        child.signalCode = sig;
        child.emit('exit', code, sig);
      };
      sys.child = child;
      return child;
    },
  };
  return sys;
}

test('run on Unix: the signals a user sends are passed on to the binary, until it has exited', () => {
  const sys = fakeProcess('linux');
  platform.run('/bin/facet', [], () => assert.fail('spawned'), {}, sys);
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']) sys.signal(sig);
  assert.deepEqual(sys.child.killed, ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']);
  sys.child.exitCode = 0; // exited, its exit event not yet handled
  sys.signal('SIGINT');
  assert.deepEqual(sys.child.killed.length, 6, 'nothing passed on to a binary that has exited');
  sys.child.end(0, null);
  assert.deepEqual(sys.exited, [0]);
  assert.deepEqual(Object.values(sys.listeners).flat(), [], 'the listeners are gone');
});

test('run on Unix, in the terminal\'s foreground: Ctrl-C and Ctrl-\\ reached the binary, and are not sent twice', () => {
  const sys = fakeProcess('linux');
  sys.fromTerminal = () => true;
  platform.run('/bin/facet', [], () => assert.fail('spawned'), {}, sys);
  for (const sig of ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP']) sys.signal(sig);
  assert.deepEqual(sys.child.killed, ['SIGTERM', 'SIGHUP']);
});

test('inForeground: the process group of the terminal\'s foreground, read from /proc/self/stat', () => {
  // pid (comm) state ppid pgrp session tty_nr tpgid ...
  assert.equal(platform.inForeground('4242 (node) S 4000 4242 4000 34816 4242 4194560 0'), true);
  assert.equal(platform.inForeground('4242 (a) b (c) S 4000 4242 4000 34816 4242 4194560 0'), true, 'a name with spaces and parentheses');
  assert.equal(platform.inForeground('4242 (node) S 4000 4242 4000 34816 5000 4194560 0'), false, 'a background job');
  assert.equal(platform.inForeground('4242 (node) S 4000 4242 4000 0 -1 4194560 0'), false, 'no terminal');
  assert.equal(platform.inForeground(null), false, 'no /proc');
});

test('run on Windows: Ctrl-C, Ctrl-Break and closing the console wait for the binary, which gets its own', () => {
  const sys = fakeProcess('win32');
  platform.run('C:\\facet.exe', [], () => assert.fail('spawned'), {}, sys);
  for (const sig of ['SIGINT', 'SIGBREAK', 'SIGHUP']) sys.signal(sig); // throws without a listener
  assert.deepEqual(sys.child.killed, [], 'not killed: the console sent it the event itself');
  assert.deepEqual(sys.exited, [], 'the launcher waits');
  sys.child.end(0xc000013a, null); // STATUS_CONTROL_C_EXIT
  assert.deepEqual(sys.exited, [0xc000013a], 'and ends as the binary did');
  assert.deepEqual(Object.values(sys.listeners).flat(), []);
});

test('run: a death by a core-dumping signal ends the launcher with 128 + n, the others are re-raised', () => {
  const os = require('node:os');
  for (const sig of ['SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV', 'SIGSYS', 'SIGXCPU', 'SIGXFSZ', 'SIGUSR1']) {
    const sys = fakeProcess('linux');
    platform.run('/bin/facet', [], () => {}, {}, sys);
    sys.child.end(null, sig);
    assert.deepEqual([sys.sent, sys.exited], [[], [128 + os.constants.signals[sig]]], sig);
  }
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'SIGPIPE', 'SIGUSR2', 'SIGALRM']) {
    const sys = fakeProcess('linux');
    platform.run('/bin/facet', [], () => {}, {}, sys);
    sys.child.end(null, sig);
    assert.deepEqual([sys.sent, sys.exited], [[[100, sig]], [128 + os.constants.signals[sig]]], sig);
  }
});
