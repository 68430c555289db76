'use strict';
// What the launcher says when no binary runs (lib/doctor.js, and facet
// doctor's report in lib/platform.js), on fake file systems laid out as each
// package manager leaves an install.
const test = require('node:test');
const assert = require('node:assert/strict');
const doctor = require('../lib/doctor.js');
const platform = require('../lib/platform.js');

/** A fake io over files (path → text), with env. */
function fakeIO(files = {}, env = {}, commands = {}) {
  return {
    platform: 'linux',
    arch: 'x64',
    endian: 'LE',
    env,
    files,
    calls: [],
    readFile(f) {
      return f in this.files ? this.files[f] : null;
    },
    exists(f) {
      return f in this.files;
    },
    head(f) {
      return f in this.files ? Buffer.from(this.files[f], 'latin1') : null;
    },
    run(command, args) {
      const key = [command, ...args].join(' ');
      this.calls.push(key);
      return key in commands ? commands[key] : null;
    },
    report: () => ({ header: { glibcVersionRuntime: '2.36' } }),
    cache: { get: () => ({}), set() {} },
  };
}

const HOST = { platform: 'linux', arch: 'x64', libc: 'glibc', v3: true, rosetta: false };
const LIST = platform.candidates(platform.TABLE, HOST);
const OTHERS = platform.TABLE.packages.filter((e) => !LIST.includes(e));
const BEST = LIST[0].package; // @agent-facets/cli-linux-x64

test('the manager, from what each leaves in a project or a global directory', () => {
  const cases = [
    // [name, files, dirs, want {name, berry, global, root}]
    ['npm', { '/p/node_modules/.package-lock.json': '{}', '/p/package-lock.json': '{}' }, ['/p/node_modules/agent-facets'],
      { name: 'npm', berry: false, global: false, root: '/p' }],
    ['npm -g', {}, ['/usr/local/lib/node_modules/agent-facets'], { name: 'npm', berry: false, global: true, root: '/usr/local' }],
    ['npm -g, Windows prefix', {}, ['/c/Users/u/AppData/Roaming/npm/node_modules/agent-facets'],
      { name: 'npm', berry: false, global: true, root: '/c/Users/u/AppData/Roaming/npm' }],
    ['npm, the lockfile alone', { '/p/package-lock.json': '{}' }, ['/p/node_modules/agent-facets'], { name: 'npm', berry: false, global: false, root: '/p' }],
    ['pnpm', { '/p/node_modules/.modules.yaml': '{}', '/p/package-lock.json': '{}' }, ['/p/node_modules/agent-facets'],
      { name: 'pnpm', berry: false, global: false, root: '/p' }],
    ['pnpm, by its virtual store', {}, ['/p/node_modules/.pnpm/agent-facets@1.2.3/node_modules/agent-facets'],
      { name: 'pnpm', berry: false, global: false, root: '/p' }],
    ['pnpm add -g', { '/h/pnpm/global/v11/abc/node_modules/.modules.yaml': '{}' }, ['/h/pnpm/global/v11/abc/node_modules/agent-facets'],
      { name: 'pnpm', berry: false, global: true, root: '/h/pnpm/global/v11/abc' }],
    ['pnpm 10 add -g', { '/h/pnpm/global/5/node_modules/.modules.yaml': '{}' }, ['/h/pnpm/global/5/node_modules/agent-facets'],
      { name: 'pnpm', berry: false, global: true, root: '/h/pnpm/global/5' }],
    ['pnpm, the lockfile alone', { '/p/pnpm-lock.yaml': '' }, ['/p/node_modules/agent-facets'], { name: 'pnpm', berry: false, global: false, root: '/p' }],
    ['yarn 1', { '/p/node_modules/.yarn-integrity': '{}', '/p/yarn.lock': '# yarn lockfile v1\n' }, ['/p/node_modules/agent-facets'],
      { name: 'yarn', berry: false, global: false, root: '/p' }],
    ['yarn global add', { '/h/.config/yarn/global/node_modules/.yarn-integrity': '{}' }, ['/h/.config/yarn/global/node_modules/agent-facets'],
      { name: 'yarn', berry: false, global: true, root: '/h/.config/yarn/global' }],
    ['yarn 4, node-modules linker', { '/p/node_modules/.yarn-state.yml': '', '/p/package-lock.json': '{}' }, ['/p/node_modules/agent-facets'],
      { name: 'yarn', berry: true, global: false, root: '/p' }],
    ['yarn 4, its lockfile alone', { '/p/yarn.lock': '# generated\n__metadata:\n  version: 8\n' }, ['/p/node_modules/agent-facets'],
      { name: 'yarn', berry: true, global: false, root: '/p' }],
    ['yarn 1, its lockfile alone', { '/p/yarn.lock': '# yarn lockfile v1\n' }, ['/p/node_modules/agent-facets'],
      { name: 'yarn', berry: false, global: false, root: '/p' }],
    ['bun', { '/p/bun.lock': '{}', '/p/package-lock.json': '{}' }, ['/p/node_modules/agent-facets'], { name: 'bun', berry: false, global: false, root: '/p' }],
    ['bun, binary lockfile', { '/p/bun.lockb': '' }, ['/p/node_modules/agent-facets'], { name: 'bun', berry: false, global: false, root: '/p' }],
    ['bun --linker isolated', {}, ['/p/node_modules/.bun/agent-facets@1.2.3/node_modules/agent-facets'], { name: 'bun', berry: false, global: false, root: '/p' }],
    ['bun add -g', { '/h/.bun/install/global/bun.lock': '{}' }, ['/h/.bun/install/global/node_modules/agent-facets'],
      { name: 'bun', berry: false, global: true, root: '/h/.bun/install/global' }],
    // bun's --backend symlink: the command reached the project's link, Node runs the cache's copy.
    ['bun, reached through its cache', { '/p/bun.lock': '{}' }, ['/p/node_modules/agent-facets', '/h/.bun/install/cache/agent-facets@1.2.3@@@1'],
      { name: 'bun', berry: false, global: false, root: '/p' }],
    ['nothing tells', { '/p/package.json': '{}' }, ['/p/node_modules/agent-facets'], { name: null, berry: false, global: false, root: '/p' }],
    ['no project: a global prefix (nvm-windows)', {}, ['/h/nvm/v20.11.1/node_modules/agent-facets'], { name: 'npm', berry: false, global: true, root: '/h/nvm/v20.11.1' }],
  ];
  for (const [name, files, dirs, want] of cases) {
    const got = doctor.detectManager(fakeIO(files), dirs);
    assert.deepEqual({ name: got.name, berry: got.berry, global: got.global, root: got.root }, want, name);
    if (want.name) assert.ok(got.evidence.length > 0, `${name}: says what told`);
  }
  assert.deepEqual(doctor.detectManager(fakeIO(), [], { pnp: true }).name, 'yarn', 'Plug\'n\'Play is yarn\'s');
  // The package at the top of node_modules: agent-facets, or the tool that depends on it.
  const top = (dir) => doctor.detectManager(fakeIO(), [dir]).top;
  assert.equal(top('/usr/local/lib/node_modules/agent-facets'), 'agent-facets');
  assert.equal(top('/usr/local/lib/node_modules/some-tool/node_modules/agent-facets'), 'some-tool');
  assert.equal(top('/usr/local/lib/node_modules/@acme/tool/node_modules/agent-facets'), '@acme/tool');
  assert.equal(top('/p/node_modules/.pnpm/agent-facets@1.2.3/node_modules/agent-facets'), null);
  // npm_config_user_agent names the manager when the layout does not.
  const ua = { npm_config_user_agent: 'pnpm/9.1.0 npm/? node/v20.11.1 linux x64' };
  assert.equal(doctor.detectManager(fakeIO({}, ua), ['/p/node_modules/agent-facets']).name, 'pnpm');
  assert.equal(doctor.detectManager(fakeIO({ '/p/bun.lock': '' }, ua), ['/p/node_modules/agent-facets']).name, 'bun', 'the layout tells first');
  assert.deepEqual(doctor.userAgentOf({ npm_config_user_agent: 'yarn/1.22.22 npm/? node/v20 linux x64' }), { name: 'yarn', version: '1.22.22' });
  assert.equal(doctor.userAgentOf({ npm_config_user_agent: 'deno/2' }), null);
  assert.equal(doctor.userAgentOf({}), null);
});

/** A resolve over io's files: a package is installed in /p/node_modules when its bin/facet is there. */
function resolverOf(io) {
  return (id) => {
    const dir = `/p/node_modules/${id.replace(/\/package\.json$/, '')}`;
    if (!(`${dir}/bin/facet` in io.files)) throw new Error('not installed');
    return `${dir}/package.json`;
  };
}

const npmAt = (root) => ({ name: 'npm', berry: false, global: false, root, evidence: [] });
const omitted = (io, manager, home = '/h') => doctor.omissions(io, manager, LIST, OTHERS, home);

test('optional dependencies left out: npm\'s configuration, in the environment and in .npmrc files', () => {
  assert.deepEqual(omitted(fakeIO(), npmAt('/p')), { omitted: [], foreignLock: null }, 'no sign');
  const signals = [
    [{}, { npm_config_omit: 'optional' }, 'npm_config_omit=optional is set in the environment'],
    [{}, { NPM_CONFIG_OMIT: 'dev optional' }, 'NPM_CONFIG_OMIT=dev optional is set in the environment'],
    [{}, { npm_config_optional: 'false' }, 'npm_config_optional=false is set in the environment'],
    [{ '/p/.npmrc': 'registry=http://r/\nomit=optional\n' }, {}, '/p/.npmrc says omit=optional'],
    [{ '/p/.npmrc': 'omit[]=optional\n' }, {}, '/p/.npmrc says omit[]=optional'],
    [{ '/h/.npmrc': 'optional=false\n' }, {}, '/h/.npmrc says optional=false'],
    [{ '/u/npmrc': 'omit = optional\n' }, { npm_config_userconfig: '/u/npmrc' }, '/u/npmrc says omit = optional'],
  ];
  for (const [files, env, want] of signals) {
    assert.deepEqual(omitted(fakeIO(files, env), npmAt('/p')).omitted, [want], want);
  }
  assert.deepEqual(omitted(fakeIO({}, { npm_config_omit: 'dev' }), npmAt('/p')).omitted, [], 'omit=dev keeps optional ones');
  assert.deepEqual(omitted(fakeIO({ '/p/.npmrc': 'omit=dev\n# omit=optional\n' }), npmAt('/p')).omitted, [], 'comments and other types say nothing');
});

test('optional dependencies left out: what each manager records, and lockfiles that list a missing package', () => {
  const lock = JSON.stringify({ packages: { '': {}, 'node_modules/agent-facets': { optionalDependencies: { [BEST]: '1.2.3' } }, [`node_modules/${BEST}`]: { optional: true } } });
  assert.deepEqual(omitted(fakeIO({ '/p/package-lock.json': lock }), npmAt('/p')).omitted,
    [`/p/package-lock.json lists ${BEST}, which is not installed: the install left it out`]);

  const pnpm = { name: 'pnpm', root: '/p', evidence: [] };
  for (const text of [
    JSON.stringify({ included: { dependencies: true, devDependencies: true, optionalDependencies: false } }), // pnpm 10 and later
    'included:\n  dependencies: true\n  devDependencies: true\n  optionalDependencies: false\nlayoutVersion: 5\n', // earlier
  ]) {
    assert.deepEqual(omitted(fakeIO({ '/p/node_modules/.modules.yaml': text }), pnpm).omitted,
      ['/p/node_modules/.modules.yaml says optionalDependencies were not included (pnpm install --no-optional)']);
  }
  assert.deepEqual(omitted(fakeIO({ '/p/node_modules/.modules.yaml': JSON.stringify({ included: { optionalDependencies: true } }) }), pnpm).omitted, []);
  assert.deepEqual(omitted(fakeIO({ '/p/pnpm-lock.yaml': `packages:\n\n  '${BEST}@1.2.3':\n    resolution: {}\n` }), pnpm).omitted,
    [`/p/pnpm-lock.yaml lists ${BEST}, which is not installed: the install left it out`]);

  // yarn 1 writes no trace of --ignore-optional (its .yarn-integrity flags
  // never hold it): its configuration tells.
  const yarn1 = { name: 'yarn', berry: false, root: '/p', evidence: [] };
  assert.deepEqual(omitted(fakeIO({ '/p/.yarnrc': 'registry "http://r/"\nignore-optional true\n' }), yarn1).omitted, ['/p/.yarnrc says ignore-optional true']);
  assert.deepEqual(omitted(fakeIO({ '/h/.yarnrc': '--ignore-optional true\n' }), yarn1).omitted, ['/h/.yarnrc says --ignore-optional true']);
  assert.deepEqual(omitted(fakeIO({}, { YARN_IGNORE_OPTIONAL: 'true' }), yarn1).omitted, ['YARN_IGNORE_OPTIONAL=true is set in the environment']);
  assert.deepEqual(omitted(fakeIO({ '/p/.yarnrc': 'ignore-optional false\n' }, { YARN_IGNORE_OPTIONAL: 'false' }), yarn1).omitted, []);
  assert.deepEqual(omitted(fakeIO({ '/p/node_modules/.yarn-integrity': JSON.stringify({ flags: ['ignoreOptional'] }) }), yarn1).omitted, [], 'no flag of yarn 1 says it');

  // yarn 2+: supportedArchitectures without this machine (linux x64 glibc).
  const berry = { name: 'yarn', berry: true, root: '/p', evidence: [] };
  const archs = (rc) => doctor.omissions(fakeIO({ '/p/.yarnrc.yml': rc }), berry, LIST, OTHERS, '/h', { host: HOST }).omitted;
  assert.deepEqual(archs('supportedArchitectures:\n  os: [darwin]\n'), ['/p/.yarnrc.yml sets supportedArchitectures without this machine\'s os linux']);
  assert.deepEqual(archs('nodeLinker: node-modules\nsupportedArchitectures:\n  cpu:\n    - arm64\n  libc:\n    - musl\nenableTelemetry: false\n'),
    ['/p/.yarnrc.yml sets supportedArchitectures without this machine\'s cpu x64, libc glibc']);
  for (const rc of [
    'supportedArchitectures:\n  os: [current, darwin]\n  cpu: [current]\n',
    'supportedArchitectures:\n  os:\n    - linux\n    - darwin\n  cpu: ["x64", "arm64"]\n  libc: [glibc, musl]\n',
    'npmRegistryServer: "http://r"\n',
  ]) {
    assert.deepEqual(archs(rc), [], rc);
  }

  const bun = { name: 'bun', root: '/p', evidence: [] };
  assert.deepEqual(omitted(fakeIO({ '/p/bunfig.toml': '[install]\noptional = false\n' }), bun).omitted, ['/p/bunfig.toml says optional = false']);
  assert.deepEqual(omitted(fakeIO({ '/p/bun.lock': `{ "packages": { "${BEST}": ["${BEST}@1.2.3", "", {}, "sha512-x"] } }` }), bun).omitted,
    [`/p/bun.lock lists ${BEST}, which is not installed: the install left it out`]);
});

test('a candidate installed but failing its check, or refused, was not left out', () => {
  const lock = JSON.stringify({ packages: { '': {}, [`node_modules/${BEST}`]: { optional: true }, [`node_modules/${LIST[1].package}`]: { optional: true } } });
  const io = fakeIO({ '/p/package-lock.json': lock });
  const got = (states) => doctor.omissions(io, npmAt('/p'), LIST, OTHERS, '/h', { states }).omitted;
  assert.deepEqual(got({ [BEST]: 'failed', [LIST[1].package]: 'refused' }), [], 'both installed');
  assert.deepEqual(got({ [BEST]: 'failed', [LIST[1].package]: 'missing' }),
    [`/p/package-lock.json lists ${LIST[1].package}, which is not installed: the install left it out`], 'the missing one only');
  // And no lockfile of another OS: it lists a package of this machine.
  assert.equal(doctor.omissions(io, npmAt('/p'), LIST, OTHERS, '/h', { states: { [BEST]: 'failed', [LIST[1].package]: 'failed' } }).foreignLock, null);
  assert.equal(doctor.blockedFix([{ package: BEST, state: 'missing' }]), null, 'all missing: a reinstall fixes it');
});

test('npm\'s global configuration: $PREFIX/etc/npmrc, of npm_config_globalconfig, npm_config_prefix or node\'s prefix', () => {
  const global = { name: 'npm', global: true, root: '/g', evidence: [] };
  const rc = (files, env = {}) => doctor.omissions(fakeIO(files, env), global, LIST, OTHERS, '/h', { execPath: '/opt/node/bin/node' }).omitted;
  assert.deepEqual(rc({ '/opt/node/etc/npmrc': 'omit=optional\n' }), ['/opt/node/etc/npmrc says omit=optional']);
  assert.deepEqual(rc({ '/u/etc/npmrc': 'omit=optional\n' }, { npm_config_prefix: '/u' }), ['/u/etc/npmrc says omit=optional']);
  assert.deepEqual(rc({ '/c/npmrc': 'optional=false\n' }, { npm_config_globalconfig: '/c/npmrc' }), ['/c/npmrc says optional=false']);
  assert.deepEqual(rc({ '/g/.npmrc': 'omit=optional\n' }), [], 'a global prefix is no project: its .npmrc is not npm\'s');
});

test('a lockfile written on another OS (npm/cli#4828): other platforms\' packages, none of these', () => {
  const other = OTHERS[0].package;
  // The wrapper's own entry names every package in its optionalDependencies: that is no entry of them.
  const lock = JSON.stringify({ packages: { '': {}, 'node_modules/agent-facets': { optionalDependencies: { [BEST]: '1.2.3', [other]: '1.2.3' } }, [`node_modules/${other}`]: { optional: true } } });
  assert.deepEqual(omitted(fakeIO({ '/p/package-lock.json': lock }), npmAt('/p')), { omitted: [], foreignLock: '/p/package-lock.json' });
  const bare = JSON.stringify({ packages: { '': {}, 'node_modules/agent-facets': { optionalDependencies: { [BEST]: '1.2.3' } } } });
  assert.deepEqual(omitted(fakeIO({ '/p/package-lock.json': bare }), npmAt('/p')), { omitted: [], foreignLock: null }, 'none at all: no sign of another OS');
});

test('the fix, for each manager, project or global, and for a lockfile of another OS', () => {
  const none = { omitted: ['x'], foreignLock: null };
  const cases = [
    [{ name: 'npm', root: '/p' }, none, 'cd /p && npm install --include=optional'],
    // npm 11 completes the lockfile: deleting it is the fallback, on a line of its own.
    [{ name: 'npm', root: '/p' }, { omitted: [], foreignLock: '/p/package-lock.json' },
      'cd /p && npm install --include=optional\nif facet still finds no binary: cd /p && rm -rf node_modules package-lock.json && npm install --include=optional'],
    [{ name: 'npm', root: '/usr/local', global: true, top: 'agent-facets' }, none, 'npm install --global --prefix /usr/local agent-facets@1.2.3 --include=optional'],
    // A dependency of another global tool: that tool is reinstalled.
    [{ name: 'npm', root: '/h/my tools', global: true, top: '@acme/some-tool' }, none, "npm install --global --prefix '/h/my tools' @acme/some-tool --include=optional"],
    [{ name: 'pnpm', root: '/h/pnpm/global/5', global: true, top: 'some-tool' }, none, 'pnpm add --global some-tool'],
    [{ name: 'pnpm', root: '/my project' }, none, "cd '/my project' && pnpm install"],
    [{ name: 'pnpm', root: '/p' }, { omitted: [], foreignLock: '/p/pnpm-lock.yaml' }, 'cd /p && rm -rf node_modules pnpm-lock.yaml && pnpm install'],
    [{ name: 'pnpm', root: '/h/pnpm/global/v11/abc', global: true }, none, 'pnpm add --global agent-facets@1.2.3'],
    [{ name: 'yarn', root: '/p' }, none, 'cd /p && yarn install --force'],
    [{ name: 'yarn', root: '/p', berry: true }, none, 'cd /p && yarn install'],
    [{ name: 'yarn', root: '/h/.config/yarn/global', global: true }, none, 'yarn global add agent-facets@1.2.3'],
    [{ name: 'bun', root: '/p' }, none, 'cd /p && bun install'],
    [{ name: 'bun', root: '/p' }, { omitted: [], foreignLock: '/p/bun.lock' }, 'cd /p && rm -rf node_modules bun.lock && bun install'],
    [{ name: 'bun', root: '/h/.bun/install/global', global: true }, none, 'bun add --global agent-facets@1.2.3'],
    [{ name: null, root: '/p' }, none, null],
  ];
  for (const [manager, evidence, want] of cases) {
    assert.equal(doctor.fixFor(manager, evidence, '1.2.3'), want, JSON.stringify(manager));
  }
  // Windows: where to run what; no `cd … &&`, no rm -rf (cmd.exe and PowerShell 5.1 take neither).
  const win = [
    [{ name: 'npm', root: 'C:\\proj' }, none, 'In C:\\proj run: npm install --include=optional'],
    [{ name: 'npm', root: 'C:\\my proj' }, { omitted: [], foreignLock: 'C:\\my proj\\package-lock.json' },
      'In C:\\my proj run: npm install --include=optional\nif facet still finds no binary: In PowerShell, in C:\\my proj run: Remove-Item -Recurse -Force node_modules, package-lock.json; npm install --include=optional'],
    [{ name: 'pnpm', root: 'C:\\proj' }, none, 'In C:\\proj run: pnpm install'],
    [{ name: 'npm', root: 'C:\\Program Files\\nodejs', global: true, top: 'agent-facets' }, none,
      'npm install --global --prefix "C:\\Program Files\\nodejs" agent-facets@1.2.3 --include=optional'],
  ];
  for (const [manager, evidence, want] of win) {
    const got = doctor.fixFor(manager, evidence, '1.2.3', 'win32');
    assert.equal(got, want, JSON.stringify(manager));
    assert.ok(!/ && |rm -rf|'/.test(got), got);
  }
});

test('facet doctor\'s report: the machine, every candidate and why it was passed over, the manager, the signs, the fix', () => {
  const bin = (name) => `/p/node_modules/@agent-facets/cli-${name}/bin/facet`;
  const arm = Buffer.alloc(64);
  arm.writeUInt32BE(0x7f454c46, 0);
  arm[4] = 2;
  arm[5] = 1;
  arm.writeUInt16LE(183, 18); // an arm64 binary in an x64 package
  const io = fakeIO({
    '/p/node_modules/.package-lock.json': '{}',
    '/p/.npmrc': 'omit=optional\n',
    [bin('linux-x64-baseline')]: '',
    [bin('linux-x64-musl')]: arm.toString('latin1'),
    [bin('linux-x64-baseline-musl')]: '',
    [bin('darwin-arm64')]: '',
  }, { npm_config_user_agent: 'npm/10.8.2 node/v20.11.1 linux x64 workspaces/false' }, {
    [`${bin('linux-x64-baseline-musl')} --version`]: { status: 1, output: 'This program can only be run on AMD64 processors with v3 microarchitecture support.\n' },
  });
  // A where whose judge refuses the baseline build, as systemWhere's refuses one of another user.
  const where = {
    dirs: ['/p/node_modules/agent-facets'],
    pnp: false,
    resolve: resolverOf(io),
    judge: (file) => (file === bin('linux-x64-baseline') ? 'it belongs to uid 4242, not to you (uid 1000), root or the owner of agent-facets (uid 1000)' : null),
  };
  const text = platform.doctorReport(io, HOST, LIST, '1.2.3', { where, home: '/h', node: 'v20.11.1', execPath: '/usr/bin/node', packageDir: '/p/node_modules/agent-facets' });
  const want = [
    'facet doctor: agent-facets@1.2.3 found no facet binary that runs on this machine.',
    '',
    'Machine:     linux x64 (glibc, AVX2)',
    'Node.js:     v20.11.1 (/usr/bin/node)',
    'Launcher:    /p/node_modules/agent-facets',
    'Installed by: npm (/p/node_modules/.package-lock.json)',
    'Run by:      npm 10.8.2 (npm_config_user_agent)',
    '',
    'Packages for this machine, best first:',
    '  @agent-facets/cli-linux-x64: not installed',
    `  @agent-facets/cli-linux-x64-baseline: found at ${bin('linux-x64-baseline')}, but refused: it belongs to uid 4242, not to you (uid 1000), root or the owner of agent-facets (uid 1000)`,
    `  @agent-facets/cli-linux-x64-musl: installed at ${bin('linux-x64-musl')}, but built for another machine: ELF arm64, not for linux x64`,
    `  @agent-facets/cli-linux-x64-baseline-musl: installed at ${bin('linux-x64-baseline-musl')}, but failed its --version check: exit status 1: "This program can only be run on AMD64 processors with v3 microarchitecture support."`,
    '',
    'Installed instead, for other machines: @agent-facets/cli-darwin-arm64 (node_modules was copied from another machine, or installed there)',
    '',
    'Optional dependencies: left out.',
    '  /p/.npmrc says omit=optional',
    '',
    'To fix:',
    // Installed but refused, installed but failing: a reinstall would not help.
    `  ${bin('linux-x64-baseline')} is installed but refused (it belongs to uid 4242, not to you (uid 1000), root or the owner of agent-facets (uid 1000)): remove it, or have its owner remove it; reinstalling does not help.`,
    `  ${bin('linux-x64-baseline-musl')} is installed but fails its --version check (exit status 1: "This program can only be run on AMD64 processors with v3 microarchitecture support."): its error above says why; reinstalling does not help.`,
    '',
  ].join('\n');
  assert.equal(text, want);
  assert.deepEqual(io.calls, [`${bin('linux-x64-baseline-musl')} --version`], 'only the candidate neither refused nor foreign is run');

  // A binary that prints another version, or cannot start, fails its check too.
  const io2 = fakeIO({ [bin('linux-x64')]: '', [bin('linux-x64-baseline')]: '' }, {}, {
    [`${bin('linux-x64')} --version`]: { status: 0, output: 'facet 9.9.9\n' },
  });
  const found = platform.survey(io2, LIST.slice(0, 2), HOST, '1.2.3', { resolve: resolverOf(io2) });
  assert.deepEqual(found, [
    { package: LIST[0].package, state: 'failed', path: bin('linux-x64'), why: 'exit status 0: "facet 9.9.9"' },
    { package: LIST[1].package, state: 'failed', path: bin('linux-x64-baseline'), why: 'it could not be started' },
  ]);

  // Nothing known: no manager, no sign, npm's generic fix.
  const bare = platform.doctorReport(fakeIO(), HOST, LIST, '1.2.3', { dirs: ['/x/agent-facets'], resolve: () => { throw new Error('none'); }, home: '/h' });
  assert.match(bare, /\nInstalled by: unknown \(no lockfile or package manager state found\)\n/);
  assert.match(bare, /\nOptional dependencies: no sign that they were left out\.\n/);
  assert.match(bare, /\nTo fix:\n {2}npm install --include=optional\n {2}or, for a global install: npm install --global agent-facets@1\.2\.3 --include=optional\n/);

  // A binary that cannot be started (EACCES: no x bit, a noexec mount): its
  // code is kept, and the fix is not a reinstall.
  const io3 = fakeIO({ '/p/node_modules/.package-lock.json': '{}', [bin('linux-x64')]: '', '/p/package-lock.json': `"node_modules/${BEST}"` }, {}, {
    [`${bin('linux-x64')} --version`]: { status: null, signal: null, output: '', error: 'EACCES' },
  });
  const eacces = platform.doctorReport(io3, HOST, LIST.slice(0, 1), '1.2.3', { dirs: ['/p/node_modules/agent-facets'], resolve: resolverOf(io3), home: '/h' });
  assert.ok(eacces.includes(`  ${BEST}: installed at ${bin('linux-x64')}, but failed its --version check: it could not be started (EACCES)\n`), eacces);
  assert.ok(eacces.includes(`To fix:\n  ${bin('linux-x64')} could not be started (EACCES): make it executable (chmod +x), or install on a file system mounted without noexec; reinstalling does not help.\n`), eacces);
  assert.ok(!eacces.includes('is not installed: the install left it out'), `an installed candidate was not left out:\n${eacces}`);
  assert.ok(!/npm install/.test(eacces), eacces);
});
