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

/**
 * ./doctor.js, loaded only where no binary runs (facet doctor, the
 * not-found message): every other call of the launcher goes without it.
 */
function doctor() {
  return require('./doctor.js');
}

/** The generated table: { command, packages: [{ package, os, cpu, libc?, baseline, bin }] }. */
const TABLE = require('./platforms.json');

/** The agent-facets package directory (this file is in its lib/). */
const PACKAGE_DIR = path.join(__dirname, '..');

/**
 * The Windows features IsProcessorFeaturePresent can tell of the x86-64-v3
 * set (see V3_CPUINFO_FLAGS in fastpath.js): PF_SSE3 (13),
 * PF_COMPARE_EXCHANGE128 (14, CX16), PF_SSSE3 (36), PF_SSE4_1 (37),
 * PF_SSE4_2 (38), PF_AVX (39, also set only when the OS saves the AVX
 * registers) and PF_AVX2 (40). Windows has no PF_ constant for BMI1, BMI2,
 * FMA, F16C, LZCNT, MOVBE, POPCNT or LAHF: every CPU with AVX2 we know of has
 * them, and should one lack them (a VM that masks them), the AVX2 build fails
 * its --version check and the baseline one runs (see findBinary).
 */
const WINDOWS_V3_FEATURES = [13, 14, 36, 37, 38, 39, 40];

/** The PowerShell probe: prints True when every feature of WINDOWS_V3_FEATURES is present. */
const WINDOWS_V3_PROBE =
  "$k = Add-Type -MemberDefinition '[DllImport(\"kernel32.dll\")] public static extern bool " +
  "IsProcessorFeaturePresent(uint f);' -Name K -Namespace W -PassThru; " +
  `@(${WINDOWS_V3_FEATURES.join(',')} | ForEach-Object { $k::IsProcessorFeaturePresent($_) }) -notcontains $false`;

/**
 * The x86-64-v3 features in macOS's sysctl machdep.cpu.features,
 * machdep.cpu.leaf7_features and machdep.cpu.extfeatures (the names XNU
 * gives CPUID's bits): the same set as V3_CPUINFO_FLAGS. OSXSAVE with AVX1.0
 * says the OS saves the AVX registers.
 */
const MACOS_V3_FEATURES = ['SSE3', 'SSSE3', 'CX16', 'SSE4.1', 'SSE4.2', 'POPCNT', 'LAHF',
  'AVX1.0', 'OSXSAVE', 'AVX2', 'BMI1', 'BMI2', 'FMA', 'F16C', 'LZCNT', 'MOVBE'];

/**
 * Commands are run by their full paths: Windows looks a bare name up in the
 * current directory first, and PATH may name anything.
 */
const SYSCTL = '/usr/sbin/sysctl';

/** Windows PowerShell, in the system directory (SystemRoot, C:\Windows by default). */
function powershellPath(env) {
  const root = env.SystemRoot || env.SYSTEMROOT;
  const base = root && /^[A-Za-z]:[\\/]/.test(root) ? root : 'C:\\Windows'; // a drive's absolute path only
  return path.win32.join(base, 'System32', 'WindowsPowerShell', 'v1.0', 'powershell.exe');
}

/**
 * The CPUs, by Node's names (process.arch, npm's "cpu", the Go table's CPU),
 * and how each object format names them: the ELF e_machine with the ELF
 * class (32 or 64 bits) and byte order, the Mach-O cputype and the PE
 * Machine. endian is left out where the CPU runs either byte order (ppc64 is
 * big-endian on AIX, little-endian on Linux): the binary's must then be this
 * Node's (os.endianness()), as it must for every ELF binary. A target added
 * to platforms/platforms.go with a CPU of this table needs nothing more here;
 * one with another CPU needs a row.
 */
const CPUS = [
  { cpu: 'x64', elf: 62, bits: 64, endian: 'LE', macho: 0x01000007, pe: 0x8664 },
  { cpu: 'arm64', elf: 183, bits: 64, endian: 'LE', macho: 0x0100000c, pe: 0xaa64 },
  { cpu: 'ia32', elf: 3, bits: 32, endian: 'LE', macho: 7, pe: 0x14c },
  { cpu: 'arm', elf: 40, bits: 32, endian: 'LE', macho: 12, pe: 0x1c4 },
  { cpu: 'riscv64', elf: 243, bits: 64, endian: 'LE', pe: 0x5064 },
  { cpu: 'loong64', elf: 258, bits: 64, endian: 'LE', pe: 0x6264 },
  { cpu: 'ppc64', elf: 21, bits: 64, macho: 0x01000012 },
  { cpu: 'ppc', elf: 20, bits: 32, endian: 'BE', macho: 18 },
  { cpu: 's390x', elf: 22, bits: 64, endian: 'BE' },
  { cpu: 's390', elf: 22, bits: 32, endian: 'BE' },
  { cpu: 'mips', elf: 8, bits: 32, endian: 'BE' },
  { cpu: 'mipsel', elf: 8, bits: 32, endian: 'LE' },
  { cpu: 'mips64', elf: 8, bits: 64, endian: 'BE' },
  { cpu: 'mips64el', elf: 8, bits: 64, endian: 'LE' },
];

/**
 * The systems that run ELF binaries, by process.platform, and the ELF
 * EI_OSABI values each takes: 0 (System V) is what most toolchains write, and
 * what Go writes for Linux, Android and Solaris; Go writes FreeBSD's (9),
 * NetBSD's (2) and OpenBSD's (12) for those. 0 is taken everywhere, since
 * other toolchains write it for every system (an override may be any
 * binary), so a Linux binary is not told from a FreeBSD one by this alone.
 */
const ELF_OSABI = { linux: [0, 3], android: [0, 3], freebsd: [0, 9], netbsd: [0, 2], openbsd: [0, 12], sunos: [0, 6] };

/** The systems of each object format, by process.platform. */
const FORMAT_OS = { ELF: Object.keys(ELF_OSABI), 'Mach-O': ['darwin'], PE: ['win32', 'cygwin'] };

/**
 * The largest configuration file or lockfile the launcher reads (bytes): a
 * larger one is no file it wants.
 */
const READ_LIMIT = 16 * 1024 * 1024;

/** How many first bytes of a file readExecutable looks at. */
const HEAD_SIZE = 4096;

/**
 * What an executable is built for, from its first bytes (a Buffer): {
 * format, os (the platforms its format and ELF OSABI allow), cpus (Node's
 * names: one, or a universal Mach-O's several; [] for a CPU not in CPUS),
 * endian ('LE' or 'BE', ELF only), what (a description for people) }, or
 * null when the bytes are no ELF, Mach-O or PE binary (a script, say: its
 * interpreter decides) or too short to tell.
 */
function readExecutable(bytes) {
  if (!bytes || bytes.length < 8) return null;
  // ELF: e_ident, then e_type and e_machine in the file's byte order.
  if (bytes.readUInt32BE(0) === 0x7f454c46 && bytes.length >= 20) {
    const bits = { 1: 32, 2: 64 }[bytes[4]];
    const endian = { 1: 'LE', 2: 'BE' }[bytes[5]];
    if (!bits || !endian) return null;
    const machine = endian === 'LE' ? bytes.readUInt16LE(18) : bytes.readUInt16BE(18);
    const osabi = bytes[7];
    const cpus = CPUS.filter((c) => c.elf === machine && c.bits === bits && (!c.endian || c.endian === endian)).map((c) => c.cpu);
    return {
      format: 'ELF',
      os: FORMAT_OS.ELF.filter((p) => ELF_OSABI[p].includes(osabi)),
      cpus,
      endian,
      what: `ELF ${cpus[0] || `machine ${machine}, ${bits}-bit ${endian}`}${osabi ? ` (OSABI ${osabi})` : ''}`,
    };
  }
  // Mach-O: a thin binary in either byte order, or a universal (fat) one
  // listing its slices in big-endian (fat_arch, or fat_arch_64 for 0xcafebabf).
  // 0xcafebabe also starts Java class files, whose version (>= 45) reads as
  // far more slices than a binary has.
  const machoCPUs = (types) => CPUS.filter((c) => types.includes(c.macho)).map((c) => c.cpu);
  for (const read of ['readUInt32LE', 'readUInt32BE']) {
    const magic = bytes[read](0);
    if (magic === 0xfeedface || magic === 0xfeedfacf) {
      const type = bytes[read](4);
      const cpus = machoCPUs([type]);
      return { format: 'Mach-O', os: FORMAT_OS['Mach-O'], cpus, what: `Mach-O ${cpus[0] || `cputype ${type}`}` };
    }
  }
  const fat = bytes.readUInt32BE(0);
  if (fat === 0xcafebabe || fat === 0xcafebabf) {
    const n = bytes.readUInt32BE(4);
    const size = fat === 0xcafebabe ? 20 : 32;
    if (n === 0 || n > 16 || bytes.length < 8 + n * size) return null;
    const types = Array.from({ length: n }, (_, i) => bytes.readUInt32BE(8 + i * size));
    const cpus = machoCPUs(types);
    return { format: 'Mach-O', os: FORMAT_OS['Mach-O'], cpus, what: `Mach-O universal (${cpus.join(', ') || types.join(', ')})` };
  }
  // PE: the MZ stub points at the PE header, whose Machine follows its signature.
  if (bytes.readUInt16BE(0) === 0x4d5a && bytes.length >= 0x40) {
    const at = bytes.readUInt32LE(0x3c);
    if (at + 6 > bytes.length || bytes.readUInt32BE(at) !== 0x50450000) return null;
    const machine = bytes.readUInt16LE(at + 4);
    const cpus = CPUS.filter((c) => c.pe === machine).map((c) => c.cpu);
    return { format: 'PE', os: FORMAT_OS.PE, cpus, what: `PE ${cpus[0] || `machine 0x${machine.toString(16)}`}` };
  }
  return null;
}

/**
 * Whether exe (from readExecutable) can run on host ({ platform, arch,
 * endian, rosetta }): its format and OS are the host's, one of its CPUs is
 * the host's CPU, and an ELF binary's byte order is the host's. A file that
 * is no binary (a script), or a host of a system no format lists, passes:
 * the kernel or the interpreter decides. On macOS an x64 Node may run under
 * Rosetta on Apple silicon, which runs arm64 binaries: unless host.rosetta
 * says it does not, arm64 passes there too (an Intel Mac refuses one with
 * "Bad CPU type in executable", an error of spawn, never a run by /bin/sh).
 */
function runsOn(exe, host) {
  if (!exe) return true;
  const known = Object.values(FORMAT_OS).some((list) => list.includes(host.platform));
  if (!known) return true;
  if (!exe.os.includes(host.platform)) return false;
  const cpus = host.platform === 'darwin' && host.arch === 'x64' && host.rosetta !== false ? ['x64', 'arm64'] : [host.arch];
  if (!exe.cpus.some((c) => cpus.includes(c))) return false;
  return exe.format !== 'ELF' || !host.endian || exe.endian === host.endian;
}

/**
 * Why file cannot run on host, for people ("ELF arm64, not for linux x64"),
 * or null when it may: its header says nothing against it, or it cannot be
 * read (spawn then says why).
 */
function foreignBinary(io, file, host) {
  const exe = readExecutable(io.head(file));
  return runsOn(exe, host) ? null : `${exe.what}, not for ${host.platform} ${host.arch}`;
}

/** The real machine. */
function systemIO() {
  return {
    platform: process.platform,
    arch: process.arch,
    endian: os.endianness(),
    env: process.env,
    /**
     * The text of a regular file of READ_LIMIT bytes at most, or null when it
     * cannot be read, or is anything else (a FIFO, which would block, a
     * device such as /dev/stdin, a directory, a larger file).
     */
    readFile(file) {
      let fd;
      try {
        fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK || 0));
        const st = fs.fstatSync(fd);
        if (!st.isFile() || st.size > READ_LIMIT) return null;
        // Read to the end, not to st.size: /proc's files say 0 bytes.
        const chunks = [];
        let total = 0;
        for (;;) {
          const buf = Buffer.alloc(64 * 1024);
          const got = fs.readSync(fd, buf, 0, buf.length, null);
          if (got === 0) break;
          total += got;
          if (total > READ_LIMIT) return null;
          chunks.push(buf.subarray(0, got));
        }
        return Buffer.concat(chunks).toString('utf8');
      } catch {
        return null;
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
    },
    exists(file) {
      return fs.existsSync(file);
    },
    /** The first bytes of a file (HEAD_SIZE at most), or null when it cannot be read. */
    head(file) {
      let fd;
      try {
        // Never waiting on a FIFO.
        fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK || 0));
        const buf = Buffer.alloc(HEAD_SIZE);
        return buf.subarray(0, fs.readSync(fd, buf, 0, HEAD_SIZE, 0));
      } catch {
        return null;
      } finally {
        if (fd !== undefined) fs.closeSync(fd);
      }
    },
    /**
     * Runs a command; returns { status, signal, output }, with error (its
     * code: 'EACCES', 'ENOENT', 'ETIMEDOUT') when it could not start or finish.
     */
    run(command, args) {
      const r = childProcess.spawnSync(command, args, { encoding: 'utf8', timeout: 10000, windowsHide: true });
      const out = { status: r.status, signal: r.signal, output: (r.stdout || '') + (r.stderr || '') };
      return r.error ? { ...out, error: r.error.code || r.error.message } : out;
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
 * Whether this x64 CPU runs the x86-64-v3 builds (GOAMD64=v3, "AVX2" in the
 * package descriptions): true, false, or null when it cannot be told (the
 * caller then prefers the baseline build, which runs everywhere). Linux reads
 * the first CPU's flags, macOS asks sysctl for CPUID's features, Windows asks
 * IsProcessorFeaturePresent through PowerShell (slow: its answer is cached).
 */
function detectV3(io) {
  switch (io.platform) {
    case 'linux': {
      const cpuinfo = io.readFile('/proc/cpuinfo');
      return cpuinfo === null ? null : fastpath.cpuinfoV3(cpuinfo);
    }
    case 'darwin': {
      // Three lines: the leaf 1, leaf 7 and extended feature names.
      const r = io.run(SYSCTL, ['-n', 'machdep.cpu.features', 'machdep.cpu.leaf7_features', 'machdep.cpu.extfeatures']);
      if (!r || r.status !== 0) return null;
      const have = new Set(r.output.split(/\s+/));
      return MACOS_V3_FEATURES.every((f) => have.has(f));
    }
    case 'win32': {
      const cached = io.cache.get();
      if (typeof cached.v3 === 'boolean') return cached.v3;
      const encoded = Buffer.from(WINDOWS_V3_PROBE, 'utf16le').toString('base64');
      const r = io.run(powershellPath(io.env), ['-NoProfile', '-NonInteractive', '-EncodedCommand', encoded]);
      const answer = r && r.status === 0 ? /^\s*true\s*$/i.test(r.output) : null;
      if (answer !== null) io.cache.set({ ...cached, v3: answer });
      return answer;
    }
    default:
      return null;
  }
}

/** Whether this is an x64 Node translated by Rosetta on Apple silicon. */
function detectRosetta(io) {
  if (io.platform !== 'darwin' || io.arch !== 'x64') return false;
  const r = io.run(SYSCTL, ['-in', 'sysctl.proc_translated']);
  return Boolean(r && r.output.trim() === '1');
}

/** What the choice of binary depends on: { platform, arch, endian, libc, v3, rosetta }. */
function detectHost(io) {
  return {
    platform: io.platform,
    arch: io.arch,
    endian: io.endian,
    libc: io.platform === 'linux' ? detectLibc(io) : undefined,
    v3: io.arch === 'x64' ? detectV3(io) : undefined,
    rosetta: detectRosetta(io),
  };
}

/**
 * The packages that can run on host, best first:
 * 1. the CPU Node runs on; under Rosetta, arm64 first and x64 after;
 * 2. on Linux, the host's libc first (static binaries run on either);
 * 3. on x64, the x86-64-v3 ("AVX2") builds first when the CPU runs them,
 *    baseline first otherwise (and when that is unknown).
 */
function candidates(table, host) {
  const cpus = host.rosetta ? ['arm64', host.arch] : [host.arch];
  const rank = (p) => [
    cpus.indexOf(p.cpu),
    p.libc && p.libc !== host.libc ? 1 : 0,
    p.cpu === 'x64' && p.baseline === (host.v3 === true) ? 1 : 0,
  ];
  return table.packages
    .filter((p) => p.os === host.platform && cpus.includes(p.cpu))
    .map((p, i) => ({ p, i, r: rank(p) }))
    .sort((a, b) => a.r[0] - b.r[0] || a.r[1] - b.r[1] || a.r[2] - b.r[2] || a.i - b.i)
    .map((x) => x.p);
}

/** Resolves a module path from the agent-facets package, as Node would (PnP and Deno: as they do). */
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

/**
 * The binary of the platform package entry as Node's lookup finds it from
 * dir: in the node_modules folder of dir or of the nearest directory above it
 * that has the package. Paths stay as written: their symlinks are not
 * resolved. Returns null when none has it.
 */
function walk(dir, entry, exists = fs.existsSync) {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    if (path.basename(d) !== 'node_modules') {
      const pkg = path.join(d, 'node_modules', ...entry.package.split('/'));
      if (exists(path.join(pkg, 'package.json'))) return path.join(pkg, entry.bin);
    }
    if (path.dirname(d) === d) return null;
  }
}

/**
 * Where this install's platform packages are looked for, and which may run:
 * { dirs, judge(file, root), resolve }. dirs are the package directories as the
 * command reached it (via.packageDirs: with bun's --backend symlink the real
 * one is in bun's cache, where no platform package is beside it), then its
 * real one. Where a dir lies in a node_modules tree, the lookup walks up from it as
 * Node does (Node's own resolution would also look above the project, and in
 * NODE_PATH); elsewhere (yarn PnP, Deno's cache) resolve, the runtime's own
 * resolution, finds it (under Deno always, the tree checked all the same;
 * under PnP by its map, with no tree). judge says why a binary found must not run, or null:
 * one outside the node_modules tree of the dir it was found from (another
 * user may have put it in a node_modules above the project, in /tmp say), or
 * one owned by neither this user, root, nor the owner of this very launcher
 * (who could change the launcher itself).
 */
function systemWhere(via = fastpath.startedAs(path.join(PACKAGE_DIR, 'bin', TABLE.command))) {
  const uid = process.getuid ? process.getuid() : -1;
  let launcherOwner = uid;
  try {
    launcherOwner = fs.statSync(__filename).uid;
  } catch {
    // as this user
  }
  const dirs = [...new Set([...via.packageDirs, PACKAGE_DIR])];
  return {
    dirs,
    pnp: Boolean(process.versions.pnp),
    resolve: process.versions.pnp || via.runtime === 'deno' ? resolveFromPackage : null,
    judge(file, root) {
      const why = [];
      const trusted = (owner) => uid < 0 || [uid, 0, launcherOwner].includes(owner);
      if (root && !fastpath.inside(root, file)) {
        // A workspace's dependencies are hoisted to its root's node_modules.
        const ws = workspaceModules(root, trusted);
        if (!ws || !fastpath.inside(ws, file)) why.push(`it lies outside this project's node_modules (${root})`);
      }
      let st = null;
      try {
        st = fs.statSync(file);
      } catch {
        // not there: passed over as not installed
      }
      if (st && uid >= 0 && ![uid, 0, launcherOwner].includes(st.uid)) {
        why.push(`it belongs to uid ${st.uid}, not to you (uid ${uid}), root or the owner of agent-facets (uid ${launcherOwner})`);
      }
      return why.length ? why.join('; ') : null;
    },
  };
}

/**
 * The node_modules of the workspace that the project holding root (its
 * node_modules tree) belongs to, or null: the nearest directory above the
 * project whose package.json declares "workspaces" (npm, yarn, bun) or that
 * holds a pnpm-workspace.yaml, that file owned by a trusted user, where a
 * package manager hoists the workspace's dependencies. A directory anyone may
 * write (/tmp) gets no say: its files are their writers'.
 */
function workspaceModules(root, trusted) {
  let dir = path.dirname(path.dirname(root));
  for (;;) {
    for (const [name, declares] of [['package.json', (text) => Boolean(JSON.parse(text).workspaces)], ['pnpm-workspace.yaml', () => true]]) {
      try {
        const file = path.join(dir, name);
        if (trusted(fs.statSync(file).uid) && declares(fs.readFileSync(file, 'utf8'))) return path.join(dir, 'node_modules');
      } catch {
        // none, unreadable, or not JSON: not a workspace root
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

/**
 * The binary of the platform package entry that this install may run: {
 * path (or null), refused: [{ package, path, why }] } (see systemWhere).
 */
function findPackage(entry, where) {
  const refused = [];
  for (const dir of where.dirs) {
    // PnP resolves by its map, never from the file system (its packages are
    // in zip files and .yarn/unplugged, no node_modules tree).
    const root = where.pnp ? null : fastpath.treeRoot(dir);
    const file = where.resolve ? locate(entry, where.resolve) : root ? walk(dir, entry) : null;
    if (!file) continue;
    const why = where.judge(file, root);
    if (!why) return { path: file, refused };
    refused.push({ package: entry.package, path: file, why });
  }
  return { path: null, refused };
}

/** The finder of findBinary: by resolve (tests), else by where (this install). */
function finderOf(options) {
  if (options.resolve) return (entry) => ({ path: locate(entry, options.resolve), refused: [] });
  const where = options.where || systemWhere();
  return (entry) => findPackage(entry, where);
}

/** The version in `facet --version` output: the last token of its first line. */
function reportedVersion(output) {
  const first = String(output).trim().split('\n')[0] || '';
  const tokens = first.trim().split(/\s+/);
  return tokens[tokens.length - 1] || '';
}

/**
 * Describes host for people: "linux x64 (glibc, AVX2)". AVX2 names the
 * x86-64-v3 level here, as in the packages' descriptions.
 */
function describeHost(host) {
  const details = [];
  if (host.libc) details.push(host.libc);
  if (host.v3 === true) details.push('AVX2');
  if (host.v3 === false) details.push('no AVX2');
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
 * Finds the binary to run: the first candidate that is installed and built
 * for this machine (its header says so: a package copied from another
 * machine, or a binary that an emulator would run, is passed over). Given a
 * version, it checks each such candidate too, and takes the first that
 * prints that exact version for --version and exits 0 (a wrong AVX2 guess
 * fails here, not in the user's command); when none does, the first installed
 * all the same, whose own error then says what is wrong.
 * Returns { path, source, checked } or { path: null, host, candidates, mismatched }
 * (mismatched: "package: why" of each candidate built for another machine).
 */
function findBinary(io, options = {}) {
  const find = finderOf(options);
  const host = detectHost(io);
  const list = candidates(TABLE, host);
  const mismatched = [];
  const refused = [];
  let first = null;
  for (const entry of list) {
    const where = find(entry);
    refused.push(...where.refused);
    const bin = where.path;
    if (!bin || !io.exists(bin)) continue;
    const why = foreignBinary(io, bin, host);
    if (why) {
      mismatched.push(`${entry.package}: ${why}`);
      continue;
    }
    const withRefused = (found) => (refused.length ? { ...found, refused } : found);
    if (options.version === undefined) return withRefused({ path: bin, source: entry.package, checked: false });
    first = first || { path: bin, source: entry.package, checked: false };
    if (checks(io, bin, options.version)) return withRefused({ path: bin, source: entry.package, checked: true });
  }
  if (first) return refused.length ? { ...first, refused } : first;
  return { path: null, host, candidates: list, mismatched, ...(refused.length ? { refused } : {}) };
}

/** Whether bin exits 0 printing version for --version. */
function checks(io, bin, version) {
  return checkFailure(io, bin, version) === null;
}

/**
 * Why bin fails the check of checks() ("exit status 1: <its first line>"),
 * or null when it passes.
 */
function checkFailure(io, bin, version) {
  const r = io.run(bin, ['--version']);
  if (r && r.error === 'ETIMEDOUT') return 'it did not finish within 10 seconds';
  if (!r || r.error) return `it could not be started${r && r.error ? ` (${r.error})` : ''}`;
  const first = String(r.output).trim().split('\n')[0].trim();
  if (r.status === 0 && reportedVersion(r.output) === version) return null;
  const how = r.signal ? `killed by ${r.signal}` : `exit status ${r.status}`;
  return first ? `${how}: ${JSON.stringify(first.slice(0, 200))}` : `${how}, nothing printed`;
}

/**
 * What became of each candidate of list, for facet doctor: [{ package,
 * state, path, why }], state being 'missing' (not installed), 'refused'
 * (found, but never run: systemWhere's judge says why), 'foreign' (built for
 * another machine), 'failed' (its --version check: why) or 'ok'.
 */
function survey(io, list, host, version, options = {}) {
  const find = finderOf(options);
  return list.map((entry) => {
    const where = find(entry);
    const bin = where.path;
    if (!bin || !io.exists(bin)) {
      const r = where.refused[0];
      return r ? { package: entry.package, state: 'refused', path: r.path, why: r.why } : { package: entry.package, state: 'missing' };
    }
    const foreign = foreignBinary(io, bin, host);
    if (foreign) return { package: entry.package, state: 'foreign', path: bin, why: foreign };
    const failed = checkFailure(io, bin, version);
    return failed ? { package: entry.package, state: 'failed', path: bin, why: failed } : { package: entry.package, state: 'ok', path: bin };
  });
}

/**
 * What the launcher knows of an install whose binary is missing: the
 * manager that made it (doctor.detectManager, from the package directories
 * where.dirs), the signs that optional dependencies were left out, the fix,
 * and the platform packages of other machines installed instead.
 */
function installFacts(io, list, version, options = {}) {
  const d = doctor();
  const where = options.dirs ? { dirs: options.dirs, pnp: false } : options.where || systemWhere();
  const manager = d.detectManager(io, options.dirs || where.dirs, { pnp: where.pnp });
  const wanted = new Set(list.map((e) => e.package));
  const others = TABLE.packages.filter((e) => !wanted.has(e.package));
  // Only the candidates that are missing were left out: one installed but
  // refused or failing its check needs another fix than a reinstall.
  const states = Object.fromEntries((options.survey || []).map((c) => [c.package, c.state]));
  const evidence = d.omissions(io, manager, list, others, options.home === undefined ? os.homedir() : options.home,
    { states, host: options.host, execPath: options.execPath || process.execPath });
  const blocked = d.blockedFix(options.survey);
  return { manager, evidence, blocked: Boolean(blocked), fix: blocked || d.fixFor(manager, evidence, version, io.platform) };
}

/**
 * The report of facet doctor when no binary runs here (doctor.report): facts
 * of installFacts, and each candidate's fate (survey).
 */
function doctorReport(io, host, list, version, options = {}) {
  const found = survey(io, list, host, version, options);
  const { foreign, install } = diagnose(io, list, version, { ...options, host, survey: found });
  return doctor().report({
    version,
    host: describeHost(host),
    node: options.node || process.version,
    execPath: options.execPath || process.execPath,
    packageDir: options.packageDir || PACKAGE_DIR,
    candidates: found,
    foreign,
    userAgent: doctor().userAgentOf(io.env),
    ...install,
  });
}

/**
 * The binary to put in the launcher's place for found (a checked binary of
 * this install): found itself, except on x64, where it is the baseline build
 * of the same OS and libc, checked like found was. A node_modules may move to
 * a machine without x86-64-v3 (a CI cache restored on another runner, a
 * volume, a migrated VM): the launcher that chose the v3 build is gone then,
 * and the v3 build would fail every call with Go's "v3 microarchitecture"
 * message. Null when that baseline build is not installed or fails its check.
 */
function swapCandidate(io, found, version, options = {}) {
  const entry = TABLE.packages.find((e) => e.package === found.source);
  if (!entry || entry.cpu !== 'x64' || entry.baseline) return found;
  const base = TABLE.packages.find((e) => e.os === entry.os && e.cpu === 'x64' && e.baseline && (e.libc || null) === (entry.libc || null));
  if (!base) return null;
  const bin = finderOf(options)(base).path;
  if (!bin || !io.exists(bin) || foreignBinary(io, bin, { platform: io.platform, arch: io.arch, endian: io.endian })) return null;
  return checks(io, bin, version) ? { path: bin, source: base.package } : null;
}

/**
 * Evidence of why no candidate is installed: the platform packages for other
 * machines that are installed instead (node_modules copied from another
 * machine), and what installFacts knows of the install.
 */
function diagnose(io, list, version, options = {}) {
  const find = finderOf(options);
  const wanted = new Set(list.map((e) => e.package));
  const foreign = TABLE.packages
    .filter((e) => !wanted.has(e.package))
    .filter((e) => {
      const bin = find(e).path;
      return bin && io.exists(bin);
    })
    .map((e) => e.package);
  return { foreign, install: installFacts(io, list, version, options) };
}

/**
 * The message for a machine with no usable binary, one screen: what was
 * looked for, why it is missing, and the repair for the package manager that
 * installed it (evidence.install, from installFacts; npm's when unknown).
 */
function notFoundMessage(host, list, evidence, version) {
  const install = evidence.install || { manager: { name: null }, evidence: { omitted: [], foreignLock: null }, fix: null };
  const lines = [
    'facet: your package manager did not install the facet binary for this machine.',
    '',
    `agent-facets@${version} runs one of these packages on ${describeHost(host)}, and none is installed:`,
    ...(list.length ? list.map((e) => `  ${e.package}`) : ['  (none: this platform is not supported)']),
  ];
  if (evidence.refused && evidence.refused.length) {
    lines.push('', 'Found, but never run:', ...evidence.refused.map((r) => `  ${r.path} (${r.package}): ${r.why}`));
  }
  if (evidence.mismatched && evidence.mismatched.length) {
    lines.push('', 'Installed, but built for another machine:', ...evidence.mismatched.map((m) => `  ${m}`));
  }
  if (evidence.foreign && evidence.foreign.length) {
    lines.push('', `Found instead: ${evidence.foreign.join(', ')}, built for another machine: node_modules was copied or installed elsewhere.`);
  }
  const { omitted, foreignLock } = install.evidence;
  const by = doctor().managerName(install.manager);
  if (omitted.length) {
    lines.push('', `${by ? `Installed by ${by}, w` : 'W'}ith optional dependencies left out:`, ...omitted.slice(0, 3).map((s) => `  ${s}`));
  }
  if (foreignLock) {
    lines.push('', `${foreignLock} lists none of these packages but lists other platforms' packages: it was made on another OS (npm/cli#4828).`);
  }
  if (!omitted.length && !foreignLock && !install.blocked) {
    lines.push(
      '',
      'Likely causes:',
      '  - optional dependencies were left out (npm install --omit=optional or --no-optional, or omit=optional in .npmrc);',
      '  - package-lock.json was made on another OS and lacks this platform\'s packages (npm/cli#4828);',
      '  - node_modules was copied from another machine (from the host into a Docker image, for example).',
    );
  }
  if (install.blocked) {
    lines.push('', 'To repair:', ...install.fix.split('\n').map((l) => `  ${l}`));
  } else if (install.fix) {
    lines.push('', `To repair${by ? ` (installed by ${by})` : ''}:`, ...install.fix.split('\n').map((l) => `  ${l}`));
  } else {
    lines.push('', 'To repair, reinstall with optional dependencies included:', ...doctor().genericFix(version).split('\n').map((l) => `  ${l}`));
  }
  lines.push('', 'Run `facet doctor` for details.', '');
  return lines.join('\n');
}

/**
 * The signals whose default action dumps core (signal(7)): a launcher that
 * re-raised one would dump a core of Node, or have Node write a crash report,
 * for a crash of the binary. For these, and for SIGUSR1 (Node starts its
 * inspector on it, and says so), the launcher exits with 128 + the signal's
 * number quietly, as a shell reports such a death. It re-raises the others.
 */
const QUIET_SIGNALS = new Set(['SIGQUIT', 'SIGILL', 'SIGTRAP', 'SIGABRT', 'SIGBUS', 'SIGFPE', 'SIGSEGV',
  'SIGSYS', 'SIGXCPU', 'SIGXFSZ', 'SIGUSR1']);

/** The signals a terminal sends its foreground process group from the keyboard. */
const KEYBOARD_SIGNALS = new Set(['SIGINT', 'SIGQUIT']);

/**
 * Whether this process is in the foreground process group of its controlling
 * terminal, from the text of /proc/self/stat (stat; null where there is no
 * /proc): then a keyboard signal it got went to the binary too. The command
 * name, in parentheses, may hold spaces and parentheses; the fields after it
 * are state, ppid, pgrp, session, tty_nr and tpgid.
 */
function inForeground(stat) {
  if (!stat) return false;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const [pgrp, ttyNr, tpgid] = [Number(fields[2]), Number(fields[4]), Number(fields[5])];
  return ttyNr !== 0 && tpgid > 0 && pgrp === tpgid;
}

/**
 * The signals the launcher listens to while the binary runs, by platform:
 * forward ones it passes on to the binary, wait ones it only outlives.
 *
 * Unix: every signal that ends a process and that a user sends is passed
 * on, SIGINT and SIGQUIT too, so that one sent to the launcher alone (kill
 * -INT <pid>, a supervisor) reaches the binary. Except: the terminal's Ctrl-C
 * and Ctrl-\ reach the binary by themselves (it is in the terminal's
 * foreground process group with the launcher), and a second copy from the
 * launcher would make a binary that ends gracefully on the first end at once
 * on the second. So SIGINT and SIGQUIT are not passed on while the launcher
 * is in the foreground process group of its terminal (KEYBOARD_SIGNALS,
 * fromTerminal); a kill -INT aimed at the launcher alone then, from another
 * terminal, does not reach the binary either: the launcher waits for it.
 * Where that cannot be told (no /proc: macOS) they are passed on, and a
 * terminal's Ctrl-C may reach the binary twice, as with npm run. Nothing is
 * passed on once the binary has exited.
 *
 * Windows: Ctrl-C, Ctrl-Break and closing the console reach every process of
 * the console, the binary included, which decides; Node would end at once
 * without a listener, leaving the binary running and the shell's prompt
 * printed over its output. The launcher waits for it instead (child.kill()
 * there would end it at once, with no chance to clean up).
 */
function signalsFor(platform) {
  if (platform === 'win32') return { forward: [], wait: ['SIGINT', 'SIGBREAK', 'SIGHUP'] };
  return { forward: ['SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'], wait: [] };
}

/** This process, as run() uses it; tests pass a fake. */
function systemProcess() {
  return {
    platform: process.platform,
    pid: process.pid,
    on: (sig, h) => process.on(sig, h),
    off: (sig, h) => process.removeListener(sig, h),
    kill: (pid, sig) => process.kill(pid, sig),
    exit: (code) => process.exit(code),
    /** Whether a keyboard signal this process got came from its terminal (see inForeground). */
    fromTerminal() {
      try {
        return inForeground(fs.readFileSync('/proc/self/stat', 'utf8'));
      } catch {
        return false;
      }
    },
    spawn: (file, args, options) => childProcess.spawn(file, args, options),
  };
}

/**
 * Runs file with args, stdio inherited (and env, this process's by default),
 * passes signals on (see signalsFor), and ends this process the way the child
 * ended: with its exit code, or by re-raising the signal that killed it (128 +
 * its number for QUIET_SIGNALS, and where it cannot be re-raised), never with
 * 0 for a crash. onSpawnError(err) is called instead when the file cannot be
 * started. sys is this process (systemProcess()).
 */
function run(file, args, onSpawnError, env = process.env, sys = systemProcess()) {
  let child = null;
  // The listeners go in before the child starts, so that no signal finds this
  // process unprepared; their callbacks run after spawn() has returned.
  const { forward, wait } = signalsFor(sys.platform);
  const handlers = {};
  for (const sig of wait) handlers[sig] = () => {};
  for (const sig of forward) {
    handlers[sig] = () => {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      if (KEYBOARD_SIGNALS.has(sig) && sys.fromTerminal && sys.fromTerminal()) return; // it got its own
      child.kill(sig);
    };
  }
  for (const [sig, h] of Object.entries(handlers)) sys.on(sig, h);
  const unlisten = () => {
    for (const [sig, h] of Object.entries(handlers)) sys.off(sig, h);
  };
  child = sys.spawn(file, args, { stdio: 'inherit', env });
  child.on('error', (err) => {
    unlisten();
    onSpawnError(err);
  });
  child.on('exit', (code, signal) => {
    unlisten();
    if (signal) {
      if (!QUIET_SIGNALS.has(signal)) sys.kill(sys.pid, signal);
      sys.exit(128 + (os.constants.signals[signal] || 0));
      return;
    }
    sys.exit(code === null ? 1 : code);
  });
}

/** This package's version. */
function packageVersion() {
  return require('../package.json').version;
}

/** The binary of the platform package name that this install may run (see systemWhere), or null. */
function locatePackage(where, name) {
  const entry = TABLE.packages.find((e) => e.package === name);
  return entry ? findPackage(entry, where).path : null;
}

/**
 * The launcher: run the binary with args. The binary is the override, else
 * the one a previous run cached, else the one found and checked now, which
 * then takes the fast path for later calls (see fastpath.js).
 */
function main(args) {
  const io = systemIO();
  // This machine as far as it is known without a process or Node's report.
  const thisMachine = { platform: io.platform, arch: io.arch, endian: io.endian };
  let where = null; // where this install's platform packages are looked for (systemWhere)
  const start = (found, env) => {
    if (args[0] === 'doctor' && !found.checked && found.source !== OVERRIDE) {
      // No binary runs here (none installed, or none passes its check): the
      // launcher answers with what it knows. exit 1: facet cannot run here.
      const host = found.host || detectHost(io);
      const list = found.candidates || candidates(TABLE, host);
      process.stdout.write(doctorReport(io, host, list, packageVersion(), { where: where || systemWhere() }));
      process.exit(1);
    }
    if (!found.path) {
      const version = packageVersion();
      const w = where || systemWhere();
      // No candidate is installed and runnable: survey runs none of them.
      const states = survey(io, found.candidates, found.host, version, { where: w });
      const evidence = { ...diagnose(io, found.candidates, version, { where: w, host: found.host, survey: states }), mismatched: found.mismatched, refused: found.refused };
      process.stderr.write(notFoundMessage(found.host, found.candidates, evidence, version));
      process.exit(1);
    }
    for (const r of found.refused || []) process.stderr.write(`facet: not running ${r.path} (${r.package}): ${r.why}\n`);
    // Never exec a binary of another machine: the kernel refuses it with
    // ENOEXEC, and /bin/sh then reads it as a script ("Syntax error").
    const why = foreignBinary(io, found.path, thisMachine);
    if (why) {
      process.stderr.write(`facet: cannot run ${found.path} (from ${found.source}): it is built for another machine (${why})\n`);
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
  const here = fastpath.site({ packageDir: PACKAGE_DIR, version, locate: (name) => locatePackage(where, name) });
  where = systemWhere(here.via);
  const swapIn = (found) => swapCandidate(io, found, version, { where });
  const lookUp = () => {
    const found = findBinary(io, { version, where });
    if (found.checked) fastpath.optimize(here, found, swapIn);
    start(found);
  };
  const cached = fastpath.readLookup(here);
  // A cached binary built for another machine (its file replaced by one of
  // another machine's, a cache shared with one) is forgotten, and looked up.
  if (!cached || foreignBinary(io, cached.path, thisMachine)) {
    if (cached) fastpath.forget(here);
    lookUp();
    return;
  }
  if (cached.fastPath) fastpath.optimize(here, cached, swapIn);
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
  detectV3,
  powershellPath,
  detectRosetta,
  candidates,
  locate,
  reportedVersion,
  describeHost,
  overrideOf,
  findBinary,
  swapCandidate,
  walk,
  findPackage,
  systemWhere,
  diagnose,
  notFoundMessage,
  survey,
  installFacts,
  doctorReport,
  CPUS,
  readExecutable,
  runsOn,
  QUIET_SIGNALS,
  KEYBOARD_SIGNALS,
  inForeground,
  signalsFor,
  run,
  main,
};
