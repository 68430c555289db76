'use strict';
// The fake machines of machines.json through the launcher's detection and
// candidate order: install.sh's tests (scripts/installsh) run the same
// machines through the shell's detection, so both pick the same package.
const test = require('node:test');
const assert = require('node:assert/strict');
const platform = require('../lib/platform.js');
const { machines } = require('./machines.json');

/** The launcher's io for a fake machine: its files, commands and report; nothing else exists. */
function machineIO(m) {
  let cache = { ...(m.cache || {}) };
  return {
    platform: m.node.platform,
    arch: m.node.arch,
    endian: 'LE',
    env: {},
    readFile: (f) => (f in m.files ? m.files[f] : null),
    exists: (f) => f in m.files,
    head: (f) => (f in m.files ? Buffer.from(m.files[f], 'latin1') : null),
    run(command, args) {
      const key = [command, ...args].join(' ');
      return key in m.commands ? { signal: null, ...m.commands[key] } : null;
    },
    report: () => m.report,
    cache: {
      get: () => cache,
      set(v) {
        cache = v;
      },
    },
  };
}

test('machines.json covers every case install.sh must tell apart', () => {
  assert.ok(machines.length >= 12);
  const firsts = new Set(machines.map((m) => m.expect[0] || 'none'));
  for (const want of ['@agent-facets/cli-linux-x64', '@agent-facets/cli-linux-x64-baseline', '@agent-facets/cli-linux-x64-musl',
    '@agent-facets/cli-linux-arm64', '@agent-facets/cli-linux-arm64-musl', '@agent-facets/cli-darwin-arm64',
    '@agent-facets/cli-darwin-x64', '@agent-facets/cli-darwin-x64-baseline', '@agent-facets/cli-windows-x64', 'none']) {
    assert.ok(firsts.has(want), want);
  }
});

for (const m of machines) {
  test(`the launcher picks, on ${m.name}, ${m.expect[0] || 'nothing'}`, () => {
    const host = platform.detectHost(machineIO(m));
    assert.deepEqual(platform.candidates(platform.TABLE, host).map((e) => e.package), m.expect, JSON.stringify(host));
  });
}
