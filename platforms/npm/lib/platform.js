'use strict';
// Finding and running the facet binary for this machine.
//
// The launcher (bin/facet) runs main(). The packages it chooses from are
// listed in ./platforms.json, which is generated from the Go table in
// platforms/platforms.go: the same table the wrapper's optionalDependencies and
// every platform package's os/cpu/libc fields come from, so they cannot drift.
// Once it has found and checked the binary, ./fastpath.js takes it out of the
// way of later calls.
//
// Everything that touches the machine (files, processes, environment) goes
// through an `io` object; systemIO() is the real one, and tests pass fakes.

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const fastpath = require('./fastpath.js');

/** The generated table: { command, packages: [{ package, os, cpu, libc?, baseline, bin }] }. */
const TABLE = require('./platforms.json');

/** The agent-facets package directory (this file is in its lib/). */
const PACKAGE_DIR = path.join(__dirname, '..');

/** The PowerShell probe for AVX2 on Windows: IsProcessorFeaturePresent(PF_AVX2_INSTRUCTIONS_AVAILABLE). */
const WINDOWS_AVX2_PROBE =
  "(Add-Type -MemberDefinition '[DllImport(\"kernel32.dll\")] public static extern bool " +
  "IsProcessorFeaturePresent(uint f);' -Name K -Namespace W -PassThru)::IsProcessorFeaturePresent(40)";

/** The real machine. */
function systemIO() {
  return {
    platform: process.platform,
    arch: process.arch,
    env: process.env,
    /** The text of a file, or null when it cannot be read. */
    readFile(file) {
      try {
        return fs.readFileSync(file, 'utf8');
      } catch {
        return null;
      }
    },
    exists(file) {
      return fs.existsSync(file);
    },
    /** Runs a command; returns { status, signal, output } or null when it could not start. */
    run(command, args) {
      const r = childProcess.spawnSync(command, args, { encoding: 'utf8', timeout: 10000, windowsHide: true });
      if (r.error) return null;
      return { status: r.status, signal: r.signal, output: (r.stdout || '') + (r.stderr || '') };
    },
    /** Node's diagnostic report, or null. */
    report() {
      try {
        if (!process.report) return null;
        process.report.excludeNetwork = true; // faster: no network interfaces
        return process.report.getReport();
      } catch {
        return null;
      }
    },
    /** A small JSON cache of answers that are slow to find; wrong or missing files read as {}. */
    cache: {
      files: [path.join(__dirname, '.host.json'), path.join(os.tmpdir(), 'agent-facets-host.json')],
      get() {
        for (const file of this.files) {
          try {
            return JSON.parse(fs.readFileSync(file, 'utf8'));
          } catch {
            // try the next place
          }
        }
        return {};
      },
      set(value) {
        for (const file of this.files) {
          try {
            fs.writeFileSync(file, JSON.stringify(value));
            return;
          } catch {
            // read-only install: try the next place
          }
        }
      },
    },
  };
}

/**
 * Which libc this Linux machine runs: 'glibc' or 'musl'. Node's own report
 * names the glibc it runs on; without one, Alpine announces itself in
 * /etc/alpine-release; otherwise ask ldd (which may be absent).
 */
function detectLibc(io) {
  const report = io.report();
  const header = report && report.header;
  if (header && header.glibcVersionRuntime) return 'glibc';
  if (io.exists('/etc/alpine-release')) return 'musl';
  const ldd = io.run('ldd', ['--version']);
  if (ldd && /musl/i.test(ldd.output)) return 'musl';
  if (ldd && /glibc|gnu libc|gnu c library/i.test(ldd.output)) return 'glibc';
  // A report without a glibc version comes from a Node built on another libc.
  return header ? 'musl' : 'glibc';
}

/**
 * Whether this x64 CPU has AVX2: true, false, or null when it cannot be told
 * (the caller then prefers the baseline build, which runs everywhere).
 * Windows has no cheap way to ask, so its answer is cached.
 */
function detectAVX2(io) {
  switch (io.platform) {
    case 'linux': {
      const cpuinfo = io.readFile('/proc/cpuinfo');
      return cpuinfo === null ? null : /^flags\s*:.*\bavx2\b/m.test(cpuinfo);
    }
    case 'darwin': {
      const r = io.run('sysctl', ['-n', 'hw.optional.avx2_0']);
      return r && r.status === 0 ? r.output.trim() === '1' : null;
    }
    case 'win32': {
      const cached = io.cache.get();
      if (typeof cached.avx2 === 'boolean') return cached.avx2;
      const encoded = Buffer.from(WINDOWS_AVX2_PROBE, 'utf16le').toString('base64');
      const r = io.run('powershell.exe', ['-NoProfile', '-NonInteractive', '-EncodedCommand', encoded]);
      const answer = r && r.status === 0 ? /true/i.test(r.output) : null;
      if (answer !== null) io.cache.set({ ...cached, avx2: answer });
      return answer;
    }
    default:
      return null;
  }
}

/** Whether this is an x64 Node translated by Rosetta on Apple silicon. */
function detectRosetta(io) {
  if (io.platform !== 'darwin' || io.arch !== 'x64') return false;
  const r = io.run('sysctl', ['-in', 'sysctl.proc_translated']);
  return Boolean(r && r.output.trim() === '1');
}

/** What the choice of binary depends on: { platform, arch, libc, avx2, rosetta }. */
function detectHost(io) {
  return {
    platform: io.platform,
    arch: io.arch,
    libc: io.platform === 'linux' ? detectLibc(io) : undefined,
    avx2: io.arch === 'x64' ? detectAVX2(io) : undefined,
    rosetta: detectRosetta(io),
  };
}

/**
 * The packages that can run on host, best first:
 * 1. the CPU Node runs on; under Rosetta, arm64 first and x64 after;
 * 2. on Linux, the host's libc first (static binaries run on either);
 * 3. on x64, AVX2 builds first when the CPU has AVX2, baseline first otherwise
 *    (and when that is unknown).
 */
function candidates(table, host) {
  const cpus = host.rosetta ? ['arm64', host.arch] : [host.arch];
  const rank = (p) => [
    cpus.indexOf(p.cpu),
    p.libc && p.libc !== host.libc ? 1 : 0,
    p.cpu === 'x64' && p.baseline === (host.avx2 === true) ? 1 : 0,
  ];
  return table.packages
    .filter((p) => p.os === host.platform && cpus.includes(p.cpu))
    .map((p, i) => ({ p, i, r: rank(p) }))
    .sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1] || a.r[2] - b.r[2] || a.i - b.i)
    .map((x) => x.p);
}

/** Resolves a module path from the agent-facets package, as Node would. */
function resolveFromPackage(id) {
  return require.resolve(id, { paths: [PACKAGE_DIR] });
}

/** The binary of a platform package, or null when the package is not installed. */
function locate(entry, resolve = resolveFromPackage) {
  try {
    return path.join(path.dirname(resolve(`${entry.package}/package.json`)), entry.bin);
  } catch {
    return null;
  }
}

/** The version in `facet --version` output: the last token of its first line. */
function reportedVersion(output) {
  const first = String(output).trim().split('\n')[0] || '';
  const tokens = first.trim().split(/\s+/);
  return tokens[tokens.length - 1] || '';
}

/** Describes host for people: "linux x64 (glibc, AVX2)". */
function describeHost(host) {
  const details = [];
  if (host.libc) details.push(host.libc);
  if (host.avx2 === true) details.push('AVX2');
  if (host.avx2 === false) details.push('no AVX2');
  if (host.rosetta) details.push('Rosetta');
  return `${host.platform} ${host.arch}` + (details.length ? ` (${details.join(', ')})` : '');
}

/** The variable naming a binary to run instead of the installed one. */
const OVERRIDE = 'FACET_BIN_OVERRIDE';

/**
 * Set to the override by whoever runs it (this launcher, or the facet binary
 * in its place): when the override is itself a launcher, or a script that runs
 * one, that launcher runs its own binary, and that binary itself, instead of
 * following the override round in a loop. The binary that finally runs clears
 * it, so that the calls it makes follow the override again.
 */
const FOLLOWED = 'FACET_BIN_OVERRIDE_FOLLOWED';

/** The binary FACET_BIN_OVERRIDE names, or null when it is unset or was followed on the way here. */
function overrideOf(env) {
  const override = env[OVERRIDE];
  return override && env[FOLLOWED] !== override ? override : null;
}

/**
 * Finds the binary to run: the first candidate that is installed. Given a
 * version, it checks each installed candidate too, and takes the first that
 * prints that exact version for --version and exits 0 (a wrong AVX2 guess
 * fails here, not in the user's command); when none does, the first installed
 * all the same, whose own error then says what is wrong.
 * Returns { path, source, checked } or { path: null, host, candidates }.
 */
function findBinary(io, options = {}) {
  const resolve = options.resolve || resolveFromPackage;
  const host = detectHost(io);
  const list = candidates(TABLE, host);
  let first = null;
  for (const entry of list) {
    const bin = locate(entry, resolve);
    if (!bin || !io.exists(bin)) continue;
    if (options.version === undefined) return { path: bin, source: entry.package, checked: false };
    first = first || { path: bin, source: entry.package, checked: false };
    const r = io.run(bin, ['--version']);
    if (r && r.status === 0 && reportedVersion(r.output) === options.version) {
      return { path: bin, source: entry.package, checked: true };
    }
  }
  return first || { path: null, host, candidates: list };
}

/** The project directory whose node_modules holds this package, or null. */
function projectDir() {
  const parent = path.dirname(PACKAGE_DIR);
  return path.basename(parent) === 'node_modules' ? path.dirname(parent) : null;
}

/**
 * Evidence of why no candidate is installed: platform packages for other
 * machines that are installed, and a lockfile that lists none of the candidates.
 */
function diagnose(io, list, resolve = resolveFromPackage) {
  const wanted = new Set(list.map((e) => e.package));
  const foreign = TABLE.packages
    .filter((e) => !wanted.has(e.package))
    .filter((e) => {
      const bin = locate(e, resolve);
      return bin && io.exists(bin);
    })
    .map((e) => e.package);
  let lockfile = null;
  const project = projectDir();
  for (const name of ['npm-shrinkwrap.json', 'package-lock.json']) {
    if (!project) break;
    const text = io.readFile(path.join(project, name));
    if (text === null) continue;
    try {
      const packages = Object.keys(JSON.parse(text).packages || {});
      const lists = (pkg) => packages.some((k) => k === `node_modules/${pkg}` || k.endsWith(`/node_modules/${pkg}`));
      lockfile = {
        path: path.join(project, name),
        listsCandidate: list.some((e) => lists(e.package)),
        listsOthers: TABLE.packages.some((e) => !wanted.has(e.package) && lists(e.package)),
      };
    } catch {
      // not JSON: say nothing about it
    }
    break;
  }
  return { foreign, lockfile };
}

/** The message for a machine with no usable binary: what was looked for, why it is missing, and the repair. */
function notFoundMessage(host, list, evidence, version) {
  const lines = [
    'facet: your package manager did not install the facet binary for this machine.',
    '',
    `agent-facets@${version} runs one of these packages on ${describeHost(host)}, and none is installed:`,
    ...(list.length ? list.map((e) => `  ${e.package}`) : ['  (none: this platform is not supported)']),
    '',
    'Likely causes:',
    '  - optional dependencies were left out (npm install --omit=optional or --no-optional, or omit=optional in .npmrc);',
    '  - package-lock.json was made on another OS and lacks this platform\'s packages (npm/cli#4828);',
    '  - node_modules was copied from another machine (from the host into a Docker image, for example).',
  ];
  if (evidence.foreign.length) {
    lines.push('', `Found instead: ${evidence.foreign.join(', ')}, built for another machine: node_modules was copied or installed elsewhere.`);
  }
  if (evidence.lockfile && !evidence.lockfile.listsCandidate) {
    const others = evidence.lockfile.listsOthers ? ' but lists other platforms\' packages' : '';
    lines.push('', `${evidence.lockfile.path} lists none of these packages${others}: it was made on another OS or without optional dependencies.`);
  }
  lines.push(
    '',
    'To repair, reinstall with optional dependencies included:',
    '  rm -rf node_modules package-lock.json && npm install',
    'or, for a global install:',
    `  npm install -g agent-facets@${version}`,
    '',
  );
  return lines.join('\n');
}

/**
 * Runs file with args, stdio inherited (and env, this process's by default),
 * and ends this process the way the child ended: with its exit code, or by
 * re-raising the signal that killed it (128 + its number where it cannot be
 * re-raised), never with 0 for a crash. onSpawnError(err) is called instead
 * when the file cannot be started.
 */
function run(file, args, onSpawnError, env = process.env) {
  let child = null;
  // Ctrl-C and Ctrl-\ reach the child from the terminal directly; waiting for
  // it to decide keeps this process alive meanwhile. Signals sent to this
  // process alone are passed on. The listeners go in before the child starts,
  // so that no signal finds this process unprepared; their callbacks run after
  // spawn() has returned.
  const handlers = {};
  if (process.platform !== 'win32') {
    for (const sig of ['SIGINT', 'SIGQUIT']) handlers[sig] = () => {};
    for (const sig of ['SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']) handlers[sig] = () => child && child.kill(sig);
  }
  for (const [sig, h] of Object.entries(handlers)) process.on(sig, h);
  const unlisten = () => {
    for (const [sig, h] of Object.entries(handlers)) process.removeListener(sig, h);
  };
  child = childProcess.spawn(file, args, { stdio: 'inherit', env });
  child.on('error', (err) => {
    unlisten();
    onSpawnError(err);
  });
  child.on('exit', (code, signal) => {
    unlisten();
    if (signal) {
      process.kill(process.pid, signal);
      process.exit(128 + (os.constants.signals[signal] || 0));
    }
    process.exit(code === null ? 1 : code);
  });
}

/** This package's version. */
function packageVersion() {
  return require('../package.json').version;
}

/** The binary of the platform package name as this install resolves it, or null. */
function locatePackage(name) {
  const entry = TABLE.packages.find((e) => e.package === name);
  return entry ? locate(entry) : null;
}

/**
 * The launcher: run the binary with args. The binary is the override, else
 * the one a previous run cached, else the one found and checked now, which
 * then takes the fast path for later calls (see fastpath.js).
 */
function main(args) {
  const io = systemIO();
  const start = (found, env) => {
    if (!found.path) {
      process.stderr.write(notFoundMessage(found.host, found.candidates, diagnose(io, found.candidates), packageVersion()));
      process.exit(1);
    }
    run(found.path, args, (err) => {
      process.stderr.write(`facet: cannot run ${found.path} (from ${found.source}): ${err.message}\n`);
      process.exit(1);
    }, env);
  };
  const override = overrideOf(io.env);
  if (override) {
    start({ path: override, source: OVERRIDE }, { ...io.env, [FOLLOWED]: override });
    return;
  }
  const version = packageVersion();
  const here = fastpath.site({ packageDir: PACKAGE_DIR, version, locate: locatePackage });
  const lookUp = () => {
    const found = findBinary(io, { version });
    if (found.checked) fastpath.optimize(here, found);
    start(found);
  };
  const cached = fastpath.readLookup(here);
  if (!cached) {
    lookUp();
    return;
  }
  if (cached.fastPath) fastpath.optimize(here, cached);
  run(cached.path, args, () => {
    // A cached binary that cannot start (copied from another machine, say): look again.
    fastpath.forget(here);
    lookUp();
  });
}

module.exports = {
  TABLE,
  systemIO,
  detectHost,
  detectLibc,
  detectAVX2,
  detectRosetta,
  candidates,
  locate,
  reportedVersion,
  describeHost,
  overrideOf,
  findBinary,
  diagnose,
  notFoundMessage,
  run,
  main,
};
