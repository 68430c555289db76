'use strict';
// The install layouts of layouts.json through the launcher's detectManager:
// the binary's judge (cmd/facet, TestJudgeLayouts) reads the same table, so
// both name the same manager for the same install.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const doctor = require('../lib/doctor.js');
const { layouts } = require('./layouts.json');

/** A fake io over files (path → text); nothing else exists. */
function layoutIO(files) {
  return {
    platform: 'linux',
    env: {},
    readFile: (f) => (f in files ? files[f] : null),
    exists: (f) => f in files,
  };
}

test('layouts.json covers every manager, global and not', () => {
  for (const name of ['npm', 'pnpm', 'yarn', 'bun']) {
    for (const global of [false, true]) {
      assert.ok(layouts.some((l) => l.want.name === name && l.want.global === global), `${name} global=${global}`);
    }
  }
});

for (const l of layouts) {
  test(`detectManager: ${l.name}`, () => {
    const got = doctor.detectManager(layoutIO(l.files), [path.posix.normalize(l.dir)]);
    assert.deepEqual({ name: got.name, global: got.global, root: got.root }, l.want);
  });
}
