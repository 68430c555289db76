'use strict';
// The native fast path, taken by the launcher (bin/facet) once it has found
// the binary for this machine and checked it (it printed this package's exact
// version).
//
// agent-facets has no install script: package managers block one, warn about
// it or ask for approval (current pnpm fails the whole install). So instead of
// a postinstall, the launcher's first run does what esbuild's postinstall does:
//
// - Where the kernel ran this launcher through a command link (a symlink
//   whose real path is bin/facet: node_modules/.bin/facet of npm, yarn 1, yarn
//   4 with the node-modules linker, bun's linkers, npm's global bin), under
//   Node, it replaces bin/facet with a hard link to (else a copy of) the
//   binary, by an atomic rename: every later call starts no Node process. On
//   x64 that binary is the baseline build, which runs on every x64 CPU: a
//   node_modules may move to a machine without AVX2 (a CI cache, a volume, a
//   migrated VM), and no launcher is left to choose again.
// - A call that something else started as JavaScript (node or bun --bun on
//   bin/facet, pnpm's shims, yarn run) leaves the launcher, and a later call
//   through the link may still swap. Bun and Deno running the launcher, or a
//   project with a deno.json, deno.jsonc or deno.lock, turn the swap off for
//   this install: deno task runs every node_modules/.bin command as
//   JavaScript.
// - Where that cannot work (pnpm's shims always start node, yarn's PnP keeps
//   packages in zip files, Windows runs .cmd shims, a node_modules that is
//   read-only or belongs to another user) it changes nothing in node_modules
//   and caches the lookup instead, so that later calls skip the search (Node's
//   report alone costs about 20 ms). The cache is the user's, per machine, and
//   trusted only when this user owns it and it names this install's binary.
//
// It never writes into a file it does not own: bun and pnpm hard-link package
// files from a store that every project shares, so bin/facet is replaced by a
// rename, never written through. Nothing here prints or throws: failing to
// optimize leaves the user's command, its outcome and its output as they were.
//
// Concurrent calls: a launcher that the kernel has started but that Node has
// not read yet would read the binary as JavaScript if bin/facet changed under
// it. Such a process names the command in its arguments from the end of its
// exec on, and Node takes tens of milliseconds to start before it reads its
// script. So the swap
//   1. does nothing while any process other than this one and its ancestors
//      names the launcher (it may be a launcher Node has not read yet; a later
//      run swaps);
//   2. keeps a hard link to the launcher, renames the binary over it, and at
//      once looks again, newest processes first: a process that names the
//      launcher now began its exec around the rename, and the launcher is put
//      back before its Node can read it.
// What remains: a launcher whose exec the kernel began before the rename but
// had not finished when the second look reached it (an exec lasts a fraction
// of a millisecond unless the kernel preempts it right there), or one whose
// Node reads its script faster than the second look reaches it (a look costs
// about 20 µs per process on Linux: Node's start is slower up to about a
// thousand processes; macOS lists them with one ps).
// Both looks see only this PID namespace: a launcher starting in another one
// (a container that shares this node_modules with the host through a bind
// mount, or a sibling container) is not seen, and may read the binary as
// JavaScript. Its temporary files are safe: they are named by pid and random
// bytes (pids repeat across containers), and only those older than a minute
// are swept (a pid cannot be checked across namespaces).
// A swap that is held back is not tried again for a minute (the cache entry
// says until when), so that calls in between do not look at every process.
//
// Right before the rename it checks that bin/facet is still the launcher this
// process started from and package.json still has its version: an install of
// another version meanwhile is never overwritten with this one's binary.

const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const os = require('os');
const path = require('path');

const COMMAND = 'facet';

/** How long a held-back swap waits before it is tried again, and how old a swap's leftover must be to be swept (ms). */
const MINUTE = 60 * 1000;

/** FNV-1a (32 bits) of text, in hex: a short, stable file name. */
function hash(text) {
  let h = 0x811c9dc5;
  for (const byte of Buffer.from(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

/** The user's cache directory for agent-facets, or null when there is no home. */
function cacheDir(env, platform, home) {
  if (platform === 'win32') {
    const base = env.LOCALAPPDATA || (home && path.join(home, 'AppData', 'Local'));
    return base ? path.join(base, 'agent-facets') : null;
  }
  if (platform === 'darwin') return home ? path.join(home, 'Library', 'Caches', 'agent-facets') : null;
  if (env.XDG_CACHE_HOME && path.isAbsolute(env.XDG_CACHE_HOME)) return path.join(env.XDG_CACHE_HOME, 'agent-facets');
  return home ? path.join(home, '.cache', 'agent-facets') : null;
}

function homedir() {
  try {
    return os.homedir();
  } catch {
    return null;
  }
}

/**
 * The outermost directory named node_modules in dir's path, or null: the
 * node_modules tree of the project that dir belongs to.
 */
function treeRoot(dir) {
  const parts = path.resolve(dir).split(path.sep);
  const i = parts.indexOf('node_modules');
  return i < 0 ? null : parts.slice(0, i + 1).join(path.sep);
}

/** Whether file is dir or lies below it (both absolute, compared as written). */
function inside(dir, file) {
  const rel = path.relative(dir, file);
  return rel === '' || (rel.split(path.sep)[0] !== '..' && !path.isAbsolute(rel));
}

/**
 * How this process was started, from process.argv[1] (argv1) and
 * process.versions: { runtime: 'node', 'bun' or 'deno'; link: whether argv1
 * is a symlink that leads to launcher; packageDirs: the package directories
 * that argv1's chain of symlinks passes through on its way to launcher, as
 * written, their own symlinks not resolved (the command reached
 * node_modules/agent-facets/bin/facet, which bun's --backend symlink makes a
 * link into bun's cache, where Node runs it from); apparent: the first
 * package's bin/facet on that way, or null when argv1 does not lead to
 * launcher }. The kernel runs a command link with its path as the script's
 * argument; node or bun given bin/facet itself, and pnpm's shims, give its
 * path. (node given the link itself cannot be told from the kernel.)
 */
function startedAs(launcher, argv1 = process.argv[1], versions = process.versions) {
  const runtime = versions.deno ? 'deno' : versions.bun ? 'bun' : 'node';
  const none = { runtime, link: false, packageDirs: [], apparent: null };
  try {
    const hops = [path.resolve(argv1)];
    while (hops.length < 40 && fs.lstatSync(hops[hops.length - 1]).isSymbolicLink()) {
      const at = hops[hops.length - 1];
      hops.push(path.resolve(path.dirname(at), fs.readlinkSync(at)));
    }
    if (fs.realpathSync(hops[hops.length - 1]) !== fs.realpathSync(launcher)) return none;
    const binaries = hops.filter((h) => path.basename(path.dirname(h)) === 'bin' && fs.existsSync(path.join(h, '..', '..', 'package.json')));
    return {
      runtime,
      link: hops.length > 1,
      packageDirs: binaries.map((h) => path.dirname(path.dirname(h))),
      apparent: binaries.length ? binaries[0] : null,
    };
  } catch {
    return none; // no such file: started some other way
  }
}

/** The first bytes of a file (up to size), or null when it cannot be read. */
function head(file, size) {
  const buf = Buffer.alloc(size);
  let fd;
  try {
    fd = fs.openSync(file, 'r');
    return buf.subarray(0, fs.readSync(fd, buf, 0, size, 0)).toString('latin1');
  } catch {
    return null;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** The text of file (the start of /proc/cpuinfo, which can be long), or null when it cannot be read. */
function readSystemFile(file) {
  if (file === '/proc/cpuinfo') return head(file, 1 << 14);
  try {
    return fs.readFileSync(file, 'latin1');
  } catch {
    return null;
  }
}

/**
 * The /proc/cpuinfo flags of the x86-64-v3 level (GOAMD64=v3), as Go's
 * runtime checks it before main (runtime/asm_amd64.s): the v2 set (pni is
 * SSE3, lahf_lm LAHF/SAHF in 64-bit mode) and AVX, AVX2, BMI1, BMI2, F16C,
 * FMA, LZCNT and MOVBE. Linux lists avx only when the OS saves the AVX
 * registers, which Go checks too (OSXSAVE, XCR0). platform.js uses it as well
 * (it requires this file, not the other way round).
 *
 * LZCNT is Linux's abm flag, which some hypervisors leave out of cpuinfo while
 * the CPU has it and Go's check passes (seen on Firecracker's AMD EPYC guests,
 * where a v3 binary runs). Every CPU with BMI1 has LZCNT (Intel since Haswell,
 * AMD since Piledriver, both added with or before BMI1), so abm or bmi1 stands
 * for it (V3_CPUINFO_ANY). Should a CPU lack it all the same, the v3 binary
 * refuses to start and the launcher's --version check passes it over.
 */
const V3_CPUINFO_FLAGS = ['pni', 'ssse3', 'cx16', 'sse4_1', 'sse4_2', 'popcnt', 'lahf_lm',
  'avx', 'avx2', 'bmi1', 'bmi2', 'f16c', 'fma', 'movbe'];
const V3_CPUINFO_ANY = [['abm', 'bmi1']];

/**
 * Whether the first CPU in cpuinfo (the text of /proc/cpuinfo) has every
 * x86-64-v3 flag, or null when it lists no flags.
 */
function cpuinfoV3(cpuinfo) {
  const line = /^flags\s*:(.*)$/m.exec(cpuinfo);
  if (!line) return null;
  const flags = new Set(line[1].trim().split(/\s+/));
  return V3_CPUINFO_FLAGS.every((f) => flags.has(f)) && V3_CPUINFO_ANY.every((any) => any.some((f) => flags.has(f)));
}

/**
 * What the choice of binary depends on, cheaply (no process, no Node report):
 * the OS and CPU, the C library this Node runs on (Linux), and x86-64-v3
 * (Linux: the first CPU's flags) or the CPU model elsewhere. A home, and so the cache,
 * may be shared by machines that need different binaries (NFS, dev
 * containers). The host name is left out: it decides nothing, and containers
 * and laptops change it often. read(file) reads a file of /proc, or null.
 */
function machineOf(platform = process.platform, arch = process.arch, read = readSystemFile) {
  const parts = [platform, arch];
  if (platform === 'linux') {
    const maps = read('/proc/self/maps') || '';
    parts.push(/\bld-musl|\blibc\.musl/.test(maps) ? 'musl' : /\blibc[.-]/.test(maps) ? 'glibc' : 'libc?');
    if (arch === 'x64') {
      const v3 = cpuinfoV3(read('/proc/cpuinfo') || '');
      parts.push(v3 === null ? 'v3?' : v3 ? 'v3' : 'no-v3');
    }
  } else {
    let cpus = [];
    try {
      cpus = os.cpus();
    } catch {
      // unknown
    }
    parts.push(cpus.length ? cpus[0].model : 'cpu?');
  }
  return parts.join(' ');
}

/**
 * This install, as the fast path sees it. packageDir is the real path of the
 * agent-facets package, version its version, and locate(name) the binary of
 * the platform package name as this install resolves it (or null). The rest
 * describes the process, the machine and the clock (now(), in ms), and
 * defaults to this one's. It notes the launcher as it is now (started).
 */
function site({
  packageDir,
  version,
  locate = () => null,
  env = process.env,
  platform = process.platform,
  pnp = Boolean(process.versions.pnp),
  uid = process.getuid ? process.getuid() : -1,
  home = homedir(),
  tmpdir = os.tmpdir(),
  machine = machineOf(platform),
  processes = listProcesses,
  now = () => Date.now(),
  argv1 = process.argv[1],
  versions = process.versions,
}) {
  // The user's cache directory, then (on Unix) one of this user's in the
  // temporary directory: in a container that runs as a user with no home of
  // its own (HOME=/), the only place to keep the lookup.
  const dirs = [cacheDir(env, platform, home)];
  if (uid >= 0) dirs.push(path.join(tmpdir, `agent-facets-${uid}`));
  const launcher = path.join(packageDir, 'bin', COMMAND);
  let started = null;
  try {
    // The launcher this process started from (Node runs it from its real
    // path): a swap never replaces another file that took its name since.
    started = fs.lstatSync(launcher);
  } catch {
    // none: no swap
  }
  return {
    packageDir,
    version,
    locate,
    via: startedAs(launcher, argv1, versions),
    platform,
    pnp,
    uid,
    machine,
    processes: () => processes(platform),
    now,
    launcher,
    started,
    cacheDirs: dirs.filter(Boolean),
    // One file per install and machine: machines that share the cache keep
    // their own answers.
    cacheName: `lookup-${hash(`${packageDir}\n${machine}`)}.json`,
  };
}

/** Whether this user owns a file's stat (Windows has no owners to check). */
function owns(s, st) {
  return s.uid < 0 || st.uid === s.uid;
}

/** Whether dir is a directory of this user's. */
function ownDir(s, dir) {
  try {
    const st = fs.lstatSync(dir);
    return st.isDirectory() && owns(s, st);
  } catch {
    return false;
  }
}

/**
 * Makes dir (mode 0700) and returns whether it is this user's. It creates
 * nothing under a directory that belongs to another user, unless that one is
 * shared the way /tmp is (world-writable, sticky): root whose HOME is a user's
 * (sudo on macOS) leaves that user's cache alone.
 */
function makeOwnDir(s, dir) {
  let existing = dir;
  while (!fs.existsSync(existing)) {
    const parent = path.dirname(existing);
    if (parent === existing) return false;
    existing = parent;
  }
  if (existing !== dir) {
    const st = fs.statSync(existing);
    const shared = (st.mode & 0o1002) === 0o1002;
    if (!owns(s, st) && !shared) return false;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }
  return ownDir(s, dir);
}

/**
 * Removes file if it is there. On a file system mounted read-only, unlink
 * fails with EROFS even for a file that is not there: that must not replace
 * the error being handled, nor stop the caller from trying elsewhere.
 */
function removeQuietly(file) {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // nothing was written there
  }
}

/**
 * What identifies a binary file: a new or changed file invalidates the cache.
 * Its mtime in whole milliseconds: Deno, which may run the launcher too,
 * tells no finer.
 */
function identity(file) {
  const st = fs.statSync(file, { bigint: true });
  return { size: String(st.size), mtime: String(st.mtimeNs / 1000000n), ino: String(st.ino) };
}

/** The cached entry in file, or null unless it is this user's and for this install, machine and binary. */
function readEntry(s, file) {
  if (!ownDir(s, path.dirname(file))) return null;
  let text;
  // Never through a symlink, and never waiting on a FIFO (checked below).
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW || 0) | (fs.constants.O_NONBLOCK || 0));
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || !owns(s, st)) return null;
    text = fs.readFileSync(fd, 'utf8');
  } finally {
    fs.closeSync(fd);
  }
  const e = JSON.parse(text);
  if (e.packageDir !== s.packageDir || e.version !== s.version || e.machine !== s.machine) return null;
  // Only the binary this install resolves for that package, never any path.
  if (typeof e.path !== 'string' || typeof e.source !== 'string' || s.locate(e.source) !== e.path) return null;
  const now = identity(e.path);
  if (now.size !== e.size || now.mtime !== e.mtime || now.ino !== e.ino) return null;
  const retryAfter = typeof e.retryAfter === 'number' ? e.retryAfter : 0;
  return { path: e.path, source: e.source, fastPath: e.fastPath === true, retryAfter, cached: true };
}

/**
 * The cached lookup of this install: { path, source, fastPath, retryAfter }
 * (a swap is not tried before the time retryAfter), or null when
 * there is none that can be trusted (see readEntry).
 */
function readLookup(s) {
  for (const dir of s.cacheDirs) {
    try {
      const found = readEntry(s, path.join(dir, s.cacheName));
      if (found) return found;
    } catch {
      // none here
    }
  }
  return null;
}

/**
 * Caches found as this install's lookup, in the first cache directory of this
 * user's; fastPath says a later run may still replace the launcher, from the
 * time retryAfter on (0: at once). Throws when it can write nowhere.
 */
function writeLookup(s, found, fastPath, retryAfter = 0) {
  const entry = {
    packageDir: s.packageDir, version: s.version, machine: s.machine,
    path: found.path, source: found.source, fastPath, retryAfter, ...identity(found.path),
  };
  let failure = new Error('no cache directory of this user\'s');
  for (const dir of s.cacheDirs) {
    const file = path.join(dir, s.cacheName);
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      if (!makeOwnDir(s, dir)) continue;
      fs.writeFileSync(tmp, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
      fs.renameSync(tmp, file);
      return;
    } catch (err) {
      failure = err;
    } finally {
      removeQuietly(tmp);
    }
  }
  throw failure;
}

/** Forgets the cached lookup (its binary could not start). */
function forget(s) {
  for (const dir of s.cacheDirs) {
    try {
      if (ownDir(s, dir)) fs.rmSync(path.join(dir, s.cacheName), { force: true });
    } catch {
      // nothing to do
    }
  }
}

/**
 * Where package managers put the command for a package in packageDir: the
 * node_modules/.bin next to it and, for npm's global prefix on Unix
 * (<prefix>/lib/node_modules), <prefix>/bin.
 */
function commandLinks(packageDir) {
  const nodeModules = path.dirname(packageDir);
  if (path.basename(nodeModules) !== 'node_modules') return [];
  const links = [path.join(nodeModules, '.bin', COMMAND)];
  const lib = path.dirname(nodeModules);
  if (path.basename(lib) === 'lib') links.push(path.join(path.dirname(lib), 'bin', COMMAND));
  return links;
}

/** The files that say Deno runs a project, in its directory. */
const DENO_FILES = ['deno.json', 'deno.jsonc', 'deno.lock'];

/**
 * Whether this install's launcher may be replaced, now or by a later call
 * through its command link: on Unix, outside PnP, under Node (Bun and Deno
 * run the launcher as JavaScript, and so does deno task for every command of
 * node_modules/.bin), when bin/facet is a file (not a link into something
 * else) that this user owns, in a bin directory this user owns and may write
 * (its owner-write bit set: a node_modules made read-only stays so, even for
 * root), that lies in the node_modules tree of the command (never in a store
 * or cache that projects share: bun's with --backend symlink), in a project
 * with no deno.json, deno.jsonc or deno.lock, and a command link leads to
 * it: the one that ran, or node_modules/.bin/facet (npm's <prefix>/bin/facet)
 * beside the package. A file system that refuses the writes anyway (mounted
 * read-only, full) makes the swap fail, and a later call try again.
 */
function canReplace(s) {
  if (s.platform === 'win32' || s.pnp || s.via.runtime !== 'node') return false;
  try {
    const binDir = path.dirname(s.launcher);
    const dir = fs.statSync(binDir);
    const file = fs.lstatSync(s.launcher);
    if (!file.isFile() || file.uid !== s.uid || dir.uid !== s.uid || !(dir.mode & 0o200)) return false;
    const real = fs.realpathSync(s.launcher);
    const apparentDir = path.dirname(path.dirname(s.via.apparent || s.launcher));
    const root = treeRoot(apparentDir);
    if (!root || !inside(fs.realpathSync(root), real)) return false;
    if (DENO_FILES.some((f) => fs.existsSync(path.join(path.dirname(root), f)))) return false;
    if (s.via.link) return true;
    return [...new Set([...commandLinks(apparentDir), ...commandLinks(s.packageDir)])].some((link) => {
      try {
        return fs.realpathSync(link) === real;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** A buffer for reading /proc/<pid>/cmdline, reused: the scans must be cheap. */
const cmdlineBuffer = Buffer.alloc(1 << 16);

/**
 * The arguments of Linux process pid, or [] when they cannot name the
 * command (most processes: told from the raw bytes, without decoding them).
 */
function linuxArgs(pid) {
  let fd;
  let n;
  try {
    fd = fs.openSync(`/proc/${pid}/cmdline`, 'r');
    n = fs.readSync(fd, cmdlineBuffer, 0, cmdlineBuffer.length, 0);
  } catch {
    return []; // it exited meanwhile
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  let bytes = cmdlineBuffer.subarray(0, n);
  if (bytes.indexOf(COMMAND) < 0) return [];
  if (n === cmdlineBuffer.length) {
    try {
      bytes = fs.readFileSync(`/proc/${pid}/cmdline`); // a very long command line
    } catch {
      return [];
    }
  }
  return bytes.toString('utf8').split('\0');
}

/**
 * The processes of this machine, in pid order: [{ pid, ppid?, args(),
 * cwd(), exe() }], or null when they cannot be listed. args() reads the
 * arguments when asked; exe() is the stat of the program the process runs,
 * or null.
 */
function listProcesses(platform) {
  if (platform === 'linux') {
    let names;
    try {
      names = fs.readdirSync('/proc');
    } catch {
      return null;
    }
    const list = [];
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue; // not a pid
      list.push({
        pid: Number(name),
        args: () => linuxArgs(name),
        cwd: () => fs.readlinkSync(`/proc/${name}/cwd`),
        exe: () => fs.statSync(`/proc/${name}/exe`),
      });
    }
    return list.sort((a, b) => a.pid - b.pid);
  }
  if (platform === 'darwin') {
    // Electron apps have long command lines: more than spawnSync's 1 MiB by default.
    const r = childProcess.spawnSync('ps', ['-A', '-ww', '-o', 'pid=', '-o', 'ppid=', '-o', 'args='], { encoding: 'utf8', timeout: 5000, maxBuffer: 16 << 20 });
    if (r.error || r.status !== 0) return null;
    return r.stdout.split('\n').map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)).filter(Boolean)
      // ps joins the arguments with spaces: a path with spaces reads as a relative one.
      .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: () => m[3].split(/\s+/), cwd: () => null, exe: () => null }));
  }
  return null;
}

/** The pids of this process's ancestors. */
function ancestors(platform, list) {
  const parentOf = (pid) => {
    if (platform === 'linux') {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    }
    const p = list.find((x) => x.pid === pid);
    return p ? p.ppid : 0;
  };
  const found = new Set();
  for (let pid = process.ppid; pid > 1 && !found.has(pid);) {
    found.add(pid);
    try {
      pid = parentOf(pid);
    } catch {
      break;
    }
  }
  return found;
}

/** Whether process p names file (a real path) in its arguments, or may: its directory cannot be read. */
function names(p, file) {
  for (const arg of p.args()) {
    // A bare name is looked up in PATH; an interpreter is always given a path.
    if (path.basename(arg) !== COMMAND || !/[\\/]/.test(arg)) continue;
    let target = arg;
    if (!path.isAbsolute(target)) {
      let cwd = null;
      try {
        cwd = p.cwd();
      } catch {
        // another user's process
      }
      if (!cwd) return true; // cannot tell where it points
      target = path.resolve(cwd, target);
    }
    try {
      if (fs.realpathSync(target) === file) return true;
    } catch {
      // not a file
    }
  }
  return false;
}

/** Whether process p runs the file whose stat is binary itself (no Node in between). */
function runs(p, binary) {
  try {
    const exe = p.exe();
    return Boolean(exe && binary) && exe.ino === binary.ino && exe.dev === binary.dev;
  } catch {
    return false;
  }
}

/**
 * Whether a process of list, other than this one and those in skip, names
 * the launcher in its arguments (it may be a launcher that Node has not read
 * yet), or whether that cannot be told. A process that runs binary (the stat
 * of the binary that replaces the launcher) is a call that needs no Node.
 */
function othersRunning(s, list = s.processes(), skip = list ? ancestors(s.platform, list) : new Set(), binary = null) {
  if (!list) return true;
  const real = fs.realpathSync(s.launcher);
  for (const p of list) {
    if (p.pid === process.pid || skip.has(p.pid)) continue;
    if (names(p, real) && !runs(p, binary)) return true;
  }
  return false;
}

/**
 * Removes what a swap interrupted for good (Ctrl-C, a crash) left in dir: the
 * files of swaps that began before cutoff (a time in ms). Before a swap, that
 * is a minute ago: a swap lasts milliseconds. Its files are hard links or
 * copies, so their ctime (the link's or copy's time) says when it began; their
 * mtime may be the install's. Whether their pid is alive cannot tell: a swap
 * in another PID namespace (a container) looks gone from this one. Once a swap
 * has succeeded, every such file goes (cutoff Infinity): no launcher runs
 * there again to sweep them, and a swap still under way elsewhere finds the
 * launcher changed and gives up, or keeps the binary in place.
 */
function sweep(dir, cutoff) {
  for (const name of fs.readdirSync(dir)) {
    if (!/^\.facet\.\d+(\.[0-9a-f]+)?\.(tmp|js)$/.test(name)) continue;
    const file = path.join(dir, name);
    try {
      if (fs.lstatSync(file).ctimeMs < cutoff) fs.rmSync(file, { force: true });
    } catch {
      // gone meanwhile
    }
  }
}

/** This package's version as its package.json says now, or null. */
function versionNow(packageDir) {
  try {
    const v = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')).version;
    return typeof v === 'string' ? v : null;
  } catch {
    return null;
  }
}

/**
 * Whether bin/facet is still the launcher this process started from, and
 * package.json still has this version: no install of another version began
 * meanwhile.
 */
function unchanged(s) {
  try {
    const now = fs.lstatSync(s.launcher);
    return Boolean(s.started) && now.ino === s.started.ino && now.dev === s.started.dev && versionNow(s.packageDir) === s.version;
  } catch {
    return false;
  }
}

/** Puts binary at tmp: a hard link, else (another file system) a copy of its own, written to disk. */
function place(binary, tmp) {
  try {
    fs.linkSync(binary, tmp);
    return;
  } catch {
    // another file system, say
  }
  fs.copyFileSync(binary, tmp, fs.constants.COPYFILE_EXCL);
  const fd = fs.openSync(tmp, 'r+');
  try {
    fs.fchmodSync(fd, 0o755); // our own new file, never the binary itself
    fs.fsyncSync(fd); // its bytes are on disk before its name is the command's
  } finally {
    fs.closeSync(fd);
  }
}

/** Whether file belongs to this user or to root (Windows has no owners to check). */
function ownedByUserOrRoot(s, file) {
  try {
    const st = fs.statSync(file);
    return s.uid < 0 || st.uid === s.uid || st.uid === 0;
  } catch {
    return false;
  }
}

/**
 * Replaces the launcher with binary by an atomic rename, and puts the
 * launcher back when a process that names it appeared meanwhile. Returns
 * 'replaced' when the binary stays in its place, 'busy' when another process
 * may be starting the launcher (or the processes cannot be listed), and
 * 'changed' when the launcher or the package changed under it (another
 * install); in both last cases nothing changed.
 */
function replace(s, binary) {
  const dir = path.dirname(s.launcher);
  // pid and random bytes: pids repeat across containers sharing the directory.
  const name = `.${COMMAND}.${process.pid}.${crypto.randomBytes(6).toString('hex')}`;
  const tmp = path.join(dir, `${name}.tmp`);
  const keep = path.join(dir, `${name}.js`);
  try {
    // A file system mounted read-only says so here, before the processes are looked at.
    fs.accessSync(dir, fs.constants.W_OK);
    const before = s.processes();
    const skip = before ? ancestors(s.platform, before) : new Set();
    if (othersRunning(s, before, skip)) return 'busy';
    sweep(dir, s.now() - MINUTE);
    place(binary, tmp);
    fs.linkSync(s.launcher, keep);
    const swapped = fs.statSync(tmp);
    if (!unchanged(s)) return 'changed';
    fs.renameSync(tmp, s.launcher);
    let stays = false;
    try {
      // Look again, the processes that were not there before first: one that
      // names the launcher now may have read its first line before the rename.
      let after = s.processes();
      if (after && before) {
        const seen = new Set(before.map((p) => p.pid));
        after = [...after.filter((p) => !seen.has(p.pid)), ...after.filter((p) => seen.has(p.pid))];
      }
      stays = !othersRunning(s, after, skip, swapped);
    } finally {
      if (!stays) fs.renameSync(keep, s.launcher);
    }
    if (stays) sweep(dir, Infinity);
    return stays ? 'replaced' : 'busy';
  } finally {
    removeQuietly(tmp);
    removeQuietly(keep);
  }
}

/**
 * The errors of a swap that cannot work here whatever the time (permissions,
 * a file system without hard links or renames); any other (a full disk,
 * EROFS, EBUSY, EIO, …) may pass, and a later call tries again.
 */
const LASTING = new Set(['EACCES', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EINVAL']);

/** Whether err, thrown by a swap, may pass. */
function passing(err) {
  return Boolean(err) && typeof err.code === 'string' && !LASTING.has(err.code);
}

/**
 * Takes the fast path for found, a binary that printed this package's
 * version (or a cached lookup): replaces the launcher where it can, else
 * caches the lookup. swapIn(found) is the checked binary to put in the
 * launcher's place ({ path, source } of found itself, or on x64 the baseline
 * build), or null when there is none: then the launcher stays. A swap held
 * back by another process, or failed by an error that may pass, is not tried
 * again for a minute (found.retryAfter, from the cache): until then it does
 * nothing, and so does a cached call that did not come through the command
 * link. Returns what it did ('replaced', 'cached', 'waiting' or 'none'); it
 * never throws.
 */
function optimize(s, found, swapIn = (f) => f) {
  if (found.retryAfter && s.now() < found.retryAfter) return 'waiting';
  if (found.cached && !s.via.link) return 'none'; // the fast path stays on for a call through the link
  // Only a binary of this user's or root's is kept for later calls.
  if (!ownedByUserOrRoot(s, found.path)) return 'none';
  let fastPath = false;
  let retryAfter = 0;
  try {
    fastPath = canReplace(s);
    if (fastPath && s.via.link) {
      const binary = swapIn(found);
      if (!binary) {
        fastPath = false; // no binary that runs on every CPU of this kind
      } else {
        const done = replace(s, binary.path);
        if (done === 'replaced') return 'replaced';
        if (done === 'busy') retryAfter = s.now() + MINUTE;
      }
    }
  } catch (err) {
    if (passing(err)) retryAfter = s.now() + MINUTE;
    else fastPath = false; // it cannot work here: do not try on every call
  }
  try {
    writeLookup(s, found, fastPath, retryAfter);
    return 'cached';
  } catch {
    return 'none';
  }
}

module.exports = { V3_CPUINFO_FLAGS, cpuinfoV3, site, cacheDir, machineOf, commandLinks, canReplace, listProcesses, othersRunning, readLookup, writeLookup, optimize, forget, startedAs, treeRoot, inside, passing };
