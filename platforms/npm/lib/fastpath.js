'use strict';
// The native fast path, taken by the launcher (bin/facet) once it has found
// the binary for this machine and checked it (it printed this package's exact
// version).
//
// agent-facets has no install script: package managers block one, warn about
// it or ask for approval (current pnpm fails the whole install). So instead of
// a postinstall, the launcher's first run does what esbuild's postinstall does:
//
// - Where the command a package manager made is a symlink to this package's
//   bin/facet (npm, yarn 1, yarn 4 with the node-modules linker, bun, npm's
//   global bin), it replaces bin/facet with a hard link to (else a copy of)
//   the binary, by an atomic rename: every later call starts no Node process.
// - Where that cannot work (pnpm's shims always start node, yarn's PnP keeps
//   packages in zip files, Windows runs .cmd shims, a node_modules that is
//   read-only or belongs to another user) it changes nothing in node_modules
//   and caches the lookup in the user's cache directory instead, so that later
//   calls skip the search (Node's report alone costs about 20 ms).
//
// It never writes into a file it does not own: bun and pnpm hard-link package
// files from a store that every project shares, so bin/facet is replaced by a
// rename, never written through. Nothing here prints or throws: failing to
// optimize leaves the user's command, its outcome and its output as they were.
//
// Concurrent first runs: a launcher that the kernel has started but that Node
// has not read yet would read the binary as JavaScript if bin/facet changed
// under it. Such a process names the command in its arguments from the moment
// it starts, so the swap waits (for a later run) while any process other than
// this one and its ancestors does. Only a launcher started in the instant
// between that check and the rename (a few milliseconds) is not covered.

const childProcess = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const COMMAND = 'facet';

/** FNV-1a (32 bits) of text, in hex: a short, stable file name for a path. */
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
 * This install, as the fast path sees it. packageDir is the real path of the
 * agent-facets package and version its version; the rest describes the
 * process and defaults to this one.
 */
function site({
  packageDir,
  version,
  env = process.env,
  platform = process.platform,
  pnp = Boolean(process.versions.pnp),
  uid = process.getuid ? process.getuid() : -1,
  home = homedir(),
}) {
  const dir = cacheDir(env, platform, home);
  return {
    packageDir,
    version,
    platform,
    pnp,
    uid,
    launcher: path.join(packageDir, 'bin', COMMAND),
    cacheFile: dir && path.join(dir, `lookup-${hash(packageDir)}.json`),
  };
}

/** What identifies a binary file: a new or changed file invalidates the cache. */
function identity(file) {
  const st = fs.statSync(file, { bigint: true });
  return { size: String(st.size), mtime: String(st.mtimeNs), ino: String(st.ino) };
}

/**
 * The cached lookup of this install: { path, source, fastPath }, or null when
 * there is none, or it is for another version, or its binary changed.
 */
function readLookup(s) {
  if (!s.cacheFile) return null;
  try {
    const e = JSON.parse(fs.readFileSync(s.cacheFile, 'utf8'));
    if (e.packageDir !== s.packageDir || e.version !== s.version || typeof e.path !== 'string') return null;
    const now = identity(e.path);
    if (now.size !== e.size || now.mtime !== e.mtime || now.ino !== e.ino) return null;
    return { path: e.path, source: e.source, fastPath: e.fastPath === true };
  } catch {
    return null;
  }
}

/** Caches found as this install's lookup; fastPath says a later run may still replace the launcher. */
function writeLookup(s, found, fastPath) {
  if (!s.cacheFile) return;
  const entry = { packageDir: s.packageDir, version: s.version, path: found.path, source: found.source, fastPath, ...identity(found.path) };
  fs.mkdirSync(path.dirname(s.cacheFile), { recursive: true, mode: 0o700 });
  const tmp = `${s.cacheFile}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, s.cacheFile);
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/** Forgets the cached lookup (its binary could not start). */
function forget(s) {
  try {
    if (s.cacheFile) fs.rmSync(s.cacheFile, { force: true });
  } catch {
    // nothing to do
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

/**
 * Whether the launcher may be replaced: on Unix, outside a PnP zip, in a bin
 * directory this user owns and may write (its owner-write bit set: a
 * node_modules made read-only stays so, even for root), and the package
 * manager's command is a symlink to bin/facet itself, so that running it runs
 * whatever bin/facet is.
 */
function canReplace(s) {
  if (s.platform === 'win32' || s.pnp || /\.zip[\\/]/i.test(s.packageDir)) return false;
  try {
    const binDir = path.dirname(s.launcher);
    const dir = fs.statSync(binDir);
    const file = fs.lstatSync(s.launcher);
    if (!file.isFile() || file.uid !== s.uid || dir.uid !== s.uid || !(dir.mode & 0o200)) return false;
    fs.accessSync(binDir, fs.constants.W_OK); // a read-only file system
    const real = fs.realpathSync(s.launcher);
    return commandLinks(s.packageDir).some((link) => {
      try {
        return fs.lstatSync(link).isSymbolicLink() && fs.realpathSync(link) === real;
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** The processes of this machine: [{ pid, args, cwd() }], or null when they cannot be listed. */
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
      if (!/^\d+$/.test(name)) continue;
      try {
        const args = fs.readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
        list.push({ pid: Number(name), args, cwd: () => fs.readlinkSync(`/proc/${name}/cwd`) });
      } catch {
        // it exited meanwhile
      }
    }
    return list;
  }
  if (platform === 'darwin') {
    const r = childProcess.spawnSync('ps', ['-A', '-ww', '-o', 'pid=', '-o', 'ppid=', '-o', 'args='], { encoding: 'utf8', timeout: 5000 });
    if (r.error || r.status !== 0) return null;
    return r.stdout.split('\n').map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line)).filter(Boolean)
      // ps joins the arguments with spaces: a path with spaces reads as a relative one.
      .map((m) => ({ pid: Number(m[1]), ppid: Number(m[2]), args: m[3].split(/\s+/), cwd: () => null }));
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

/**
 * Whether a process other than this one and its ancestors names the launcher
 * in its arguments (it may be a launcher that Node has not read yet), or
 * whether that cannot be told.
 */
function othersRunning(s, list = listProcesses(s.platform)) {
  if (!list) return true;
  const real = fs.realpathSync(s.launcher);
  const skip = ancestors(s.platform, list);
  skip.add(process.pid);
  for (const p of list) {
    if (skip.has(p.pid)) continue;
    for (const arg of p.args) {
      // A bare name is looked up in PATH; an interpreter is always given a path.
      if (path.basename(arg) !== COMMAND || !/[\\/]/.test(arg)) continue;
      let file = arg;
      if (!path.isAbsolute(file)) {
        let cwd = null;
        try {
          cwd = p.cwd();
        } catch {
          // another user's process
        }
        if (!cwd) return true; // cannot tell where it points
        file = path.resolve(cwd, file);
      }
      try {
        if (fs.realpathSync(file) === real) return true;
      } catch {
        // not a file
      }
    }
  }
  return false;
}

/**
 * Replaces the launcher with binary: a hard link (else a copy) under a
 * temporary name, then an atomic rename over bin/facet. Returns false, having
 * changed nothing, while another process may be starting the launcher.
 */
function replace(s, binary) {
  const tmp = path.join(path.dirname(s.launcher), `.${COMMAND}.${process.pid}.tmp`);
  try {
    fs.rmSync(tmp, { force: true });
    try {
      fs.linkSync(binary, tmp);
    } catch {
      fs.copyFileSync(binary, tmp, fs.constants.COPYFILE_EXCL);
      fs.chmodSync(tmp, 0o755); // our own new file, never the binary itself
    }
    if (othersRunning(s)) return false;
    fs.renameSync(tmp, s.launcher);
    return true;
  } finally {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * Takes the fast path for found, a binary that printed this package's
 * version: replaces the launcher where it can, else caches the lookup.
 * Returns what it did ('replaced', 'cached' or 'none'); it never throws.
 */
function optimize(s, found) {
  let replaceable = false;
  try {
    replaceable = canReplace(s);
    if (replaceable && replace(s, found.path)) return 'replaced';
  } catch {
    replaceable = false; // it failed: do not try on every call
  }
  try {
    writeLookup(s, found, replaceable);
    return 'cached';
  } catch {
    return 'none';
  }
}

module.exports = { site, cacheDir, commandLinks, canReplace, listProcesses, othersRunning, readLookup, optimize, forget };
