'use strict';
// postinstall of agent-facets.
//
// Picks the binary for this machine the way the launcher does (lib/platform.js),
// runs it with --version and requires this package's exact version, trying the
// next candidate when one fails (a wrong AVX2 guess shows up here, not at the
// user's first call). Then, on Unix under npm, it puts that binary in place of
// the JS launcher bin/facet (a hard link, else a copy; then an atomic rename),
// so calling facet starts no Node process. Elsewhere it caches the binary next
// to the launcher, which then finds it without looking.
//
// It never fails the install: on any problem it warns and exits 0, and the JS
// launcher keeps working.

const fs = require('fs');
const path = require('path');
const platform = require('./lib/platform.js');

/** Puts a link to (else a copy of) source at target, atomically. */
function place(source, target) {
  const tmp = `${target}.${process.pid}.tmp`;
  try {
    fs.rmSync(tmp, { force: true });
    try {
      fs.linkSync(source, tmp);
    } catch {
      fs.copyFileSync(source, tmp);
      fs.chmodSync(tmp, 0o755);
    }
    fs.renameSync(tmp, target);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Whether npm runs this script (other package managers lay packages out differently). */
function underNpm(env) {
  return /^npm\//.test(env.npm_config_user_agent || '');
}

function postinstall(io) {
  const version = require('./package.json').version;
  const host = platform.detectHost(io);
  const list = platform.candidates(platform.TABLE, host);
  const rejected = [];
  for (const entry of list) {
    const bin = platform.locate(entry);
    if (!bin || !io.exists(bin)) continue;
    const r = io.run(bin, ['--version']);
    const got = r && r.status === 0 ? platform.reportedVersion(r.output) : '';
    if (got !== version) {
      const what = r ? `exit ${r.status === null ? r.signal : r.status}, printed ${JSON.stringify(r.output.trim())}` : 'could not start';
      rejected.push(`  ${entry.package}: ${bin} --version: ${what}; want ${version}`);
      continue;
    }
    if (io.platform !== 'win32' && underNpm(io.env)) {
      place(bin, path.join(__dirname, 'bin', 'facet'));
    } else {
      place(bin, platform.cachedBinaryPath(io.platform));
    }
    return;
  }
  if (rejected.length) {
    warn(`no binary for ${platform.describeHost(host)} printed version ${version}:\n${rejected.join('\n')}\n`);
    return;
  }
  warn(platform.notFoundMessage(host, list, platform.diagnose(io, list), version));
}

function warn(message) {
  process.stderr.write(`agent-facets postinstall (warning, the install goes on): ${message}`);
}

try {
  postinstall(platform.systemIO());
} catch (err) {
  warn(`${err && err.stack ? err.stack : err}\n`);
}
process.exitCode = 0;
