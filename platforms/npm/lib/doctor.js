'use strict';
// What the launcher knows when it finds no facet binary to run: which package
// manager installed agent-facets, whether it left the optional dependencies
// (the platform packages) out, and the command that repairs the install.
// platform.js prints it: in full for `facet doctor`, in short in the
// not-found message of every other command.
//
// Everything is read through the launcher's io object (readFile, exists,
// env: see systemIO in platform.js), so tests pass a fake file system.

const path = require('path');

/** The managers, by the name their command has. */
const MANAGERS = ['npm', 'pnpm', 'yarn', 'bun'];

/**
 * The project (or global prefix) that holds the package directory dir, and
 * the node_modules in it: the directory above the first node_modules of dir's
 * path, where the manager keeps its lockfile and its state files (pnpm's
 * store, node_modules/.pnpm, lies below it too). Null when dir is in no
 * node_modules (yarn Plug'n'Play, Deno's cache).
 */
function rootOf(dir) {
  const parts = path.resolve(dir).split(path.sep);
  const i = parts.indexOf('node_modules');
  if (i < 1) return null;
  const root = parts.slice(0, i).join(path.sep) || path.sep;
  // The package installed at the top (scope-aware): agent-facets itself, or
  // the tool that depends on it. pnpm's and bun's virtual stores (.pnpm, .bun)
  // name no package there.
  const top = parts[i + 1] && parts[i + 1].startsWith('@') ? parts.slice(i + 1, i + 3).join('/') : parts[i + 1];
  return { root, modules: path.join(root, 'node_modules'), top: top && !top.startsWith('.') ? top : null };
}

/** The first of files (names in dir) that exists, as a path, or null. */
function firstOf(io, dir, files) {
  for (const f of files) {
    const p = path.join(dir, f);
    if (io.exists(p)) return p;
  }
  return null;
}

/**
 * The package manager that runs this process, from npm_config_user_agent
 * ("pnpm/9.1.0 npm/? node/v20.11.1 linux x64"), which npm, pnpm, yarn and bun
 * set for the scripts and commands they run: { name, version } or null.
 */
function userAgentOf(env) {
  const ua = env.npm_config_user_agent || env.NPM_CONFIG_USER_AGENT;
  const m = ua && /^(npm|pnpm|yarn|bun)\/(\S+)/.exec(ua);
  return m ? { name: m[1], version: m[2] } : null;
}

/**
 * Which package manager installed agent-facets, from what it left around the
 * package directories dirs (as the command reached them, then the real one):
 * {
 *   name: 'npm', 'pnpm', 'yarn' or 'bun', or null when nothing tells;
 *   berry: for yarn, whether it is yarn 2 or later (yarn 1 otherwise);
 *   global: whether it is a global install (npm -g, pnpm add -g, yarn global, bun add -g);
 *   root: the project directory, or the global prefix (npm) or directory;
 *   top: the package at the top of the node_modules that holds agent-facets:
 *     agent-facets, or the tool that depends on it (null when none tells);
 *   evidence: the files (or variable) that told, for people;
 * }. The files a manager writes into node_modules tell first (pnpm's
 * .modules.yaml, yarn's .yarn-state.yml and .yarn-integrity, npm's
 * .package-lock.json), then the paths only one manager makes (node_modules/.pnpm,
 * node_modules/.bun, the global directories), then the lockfiles, and last
 * npm_config_user_agent, which names the manager that runs facet (a script
 * of package.json, npx), not always the one that installed it.
 */
function detectManager(io, dirs, { pnp = false } = {}) {
  let top = null;
  const found = (name, root, evidence, more = {}) => ({ name, berry: false, global: false, root, evidence, top, ...more });
  if (pnp) return found('yarn', null, ['Plug\'n\'Play (no node_modules)'], { berry: true });
  for (const dir of dirs) {
    const at = rootOf(dir);
    if (!at) continue;
    const { root, modules } = at;
    top = at.top;
    const parts = path.resolve(dir).split(path.sep);
    const state = (file) => firstOf(io, modules, [file]);
    let file;
    if ((file = state('.modules.yaml')) || parts.includes('.pnpm')) {
      // pnpm's global packages: <PNPM_HOME>/global/<layout>/<hash>/node_modules
      // (pnpm 11), <PNPM_HOME>/global/<layout>/node_modules (pnpm 10 and earlier).
      const global = [path.dirname(path.dirname(root)), path.dirname(root)].some((d) => path.basename(d) === 'global');
      return found('pnpm', root, [file || path.join(modules, '.pnpm')], { global });
    }
    // pnpm's global virtual store (<store>/v10/links/…), where pnpm add -g puts packages.
    const store = parts.findIndex((p, i) => p === 'store' && /^v\d+$/.test(parts[i + 1] || '') && parts[i + 2] === 'links');
    if (store >= 0) return found('pnpm', root, [parts.slice(0, store + 3).join(path.sep)], { global: true });
    // yarn 2+'s unplugged packages: <project>/.yarn/unplugged/<pkg>/node_modules/….
    const yarn = parts.findIndex((p, i) => p === '.yarn' && parts[i + 1] === 'unplugged');
    if (yarn >= 0) return found('yarn', parts.slice(0, yarn).join(path.sep) || path.sep, [parts.slice(0, yarn + 2).join(path.sep)], { berry: true });
    if ((file = state('.yarn-state.yml'))) return found('yarn', root, [file], { berry: true });
    if ((file = state('.yarn-integrity'))) {
      // yarn global add: <yarn's data dir>/global (~/.config/yarn/global).
      return found('yarn', root, [file], { global: path.basename(root) === 'global' && /yarn/i.test(path.basename(path.dirname(root))) });
    }
    if (parts.includes('.bun') || (path.basename(root) === 'global' && path.basename(path.dirname(root)) === 'install')) {
      // bun's isolated linker (node_modules/.bun), or bun add -g: <BUN_INSTALL>/install/global.
      const global = path.basename(root) === 'global' && path.basename(path.dirname(root)) === 'install';
      return found('bun', root, [global ? root : path.join(modules, '.bun')].filter(Boolean), { global });
    }
    if ((file = state('.package-lock.json'))) return found('npm', root, [file]);
    // npm install -g: <prefix>/lib/node_modules (Windows: <prefix>/node_modules, the prefix named npm).
    if ((path.basename(root) === 'lib' && !io.exists(path.join(root, 'package.json'))) || path.basename(root).toLowerCase() === 'npm') {
      return found('npm', path.basename(root) === 'lib' ? path.dirname(root) : root, [modules], { global: true });
    }
    if ((file = firstOf(io, root, ['pnpm-lock.yaml']))) return found('pnpm', root, [file]);
    if ((file = firstOf(io, root, ['bun.lock', 'bun.lockb']))) return found('bun', root, [file]);
    if ((file = firstOf(io, root, ['.yarnrc.yml']))) return found('yarn', root, [file], { berry: true });
    if ((file = firstOf(io, root, ['yarn.lock']))) {
      const text = io.readFile(file) || '';
      return found('yarn', root, [file], { berry: /^__metadata:/m.test(text) });
    }
    if ((file = firstOf(io, root, ['package-lock.json', 'npm-shrinkwrap.json']))) return found('npm', root, [file]);
    const ua = userAgentOf(io.env);
    if (ua) return found(ua.name, root, [`npm_config_user_agent=${io.env.npm_config_user_agent || io.env.NPM_CONFIG_USER_AGENT}`]);
    // No project around it: a global prefix (nvm-windows: …\\nvm\\v20.11.1\\node_modules).
    if (!io.exists(path.join(root, 'package.json'))) return found('npm', root, [`${modules} (no package.json in ${root})`], { global: true });
    return found(null, root, []);
  }
  const ua = userAgentOf(io.env);
  return ua ? found(ua.name, null, ['npm_config_user_agent']) : found(null, null, []);
}

/** The lines of an .npmrc (text) that leave optional dependencies out, as written. */
function npmrcOmits(text) {
  return String(text)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^omit(\[\])?\s*=\s*["']?optional["']?\s*$/i.test(l) || /^(optional|include-optional)\s*=\s*false\s*$/i.test(l));
}

/** A variable of npm's configuration, however its name is cased (npm_config_omit, NPM_CONFIG_OMIT). */
function npmEnv(env, key) {
  const name = Object.keys(env).find((k) => k.toLowerCase() === `npm_config_${key}`);
  return name ? { name, value: env[name] } : null;
}

/**
 * Whether a lockfile's text has an entry of package: npm's
 * "node_modules/<package>", the others' "<package>@<version>" (a wrapper's
 * optionalDependencies name every package, without an @ after it).
 */
function lists(text, pkg) {
  return text.includes(`node_modules/${pkg}"`) || text.includes(`${pkg}@`);
}

/** Whether a variable of yarn 1's configuration (YARN_IGNORE_OPTIONAL) is set to true. */
function yarnTrue(value) {
  return value !== undefined && !['', 'false', '0'].includes(String(value).trim().toLowerCase());
}

/** The lines of a yarn 1 .yarnrc (text) that ignore optional dependencies ("ignore-optional true", "--ignore-optional true"). */
function yarnrcIgnores(text) {
  return String(text)
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /^(--)?(install\.)?["']?ignore-optional["']?\s+["']?true["']?$/.test(l));
}

/**
 * The lists of yarn 2+'s supportedArchitectures in a .yarnrc.yml (text):
 * { os, cpu, libc } (each a list, or undefined when not given), or null when
 * the file sets none. Both YAML forms: "cpu: [x64, arm64]" and "- x64" items.
 */
function supportedArchitectures(text) {
  const lines = String(text).split(/\r?\n/);
  const start = lines.findIndex((l) => /^supportedArchitectures:\s*$/.test(l));
  if (start < 0) return null;
  const archs = {};
  let key = null;
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break; // the next top-level key
    const kv = /^\s+(os|cpu|libc):\s*(.*?)\s*$/.exec(line);
    const item = /^\s+-\s*["']?([^"'\s]+)["']?\s*$/.exec(line);
    if (kv) {
      key = kv[1];
      const inline = /^\[(.*)\]$/.exec(kv[2]);
      archs[key] = inline ? inline[1].split(',').map((v) => v.trim().replace(/^["']|["']$/g, '')).filter(Boolean) : [];
    } else if (item && key) {
      archs[key].push(item[1]);
    }
  }
  return archs;
}

/**
 * Why the platform packages may be missing, for the install manager (from
 * detectManager): { omitted: [signals that optional dependencies were left
 * out], foreignLock: a lockfile written on another OS (npm/cli#4828), or null }.
 * Each signal is one line for people. candidates are this machine's packages,
 * others the rest of the table's. more: { states (package → survey's state:
 * only the 'missing' ones, or those without a state, count as left out),
 * host (detectHost's: yarn's supportedArchitectures is checked against it),
 * execPath (node's, whose prefix holds npm's global configuration) }.
 */
function omissions(io, manager, candidates, others, home, more = {}) {
  const omitted = [];
  let foreignLock = null;
  const env = io.env;
  const states = more.states || {};
  const all = candidates.map((e) => e.package);
  const names = all.filter((n) => !states[n] || states[n] === 'missing');
  // The configuration npm (and pnpm, which reads .npmrc and npm_config_*) installs with.
  const omit = npmEnv(env, 'omit');
  if (omit && /(^|[\s,])optional($|[\s,])/.test(omit.value)) omitted.push(`${omit.name}=${omit.value} is set in the environment`);
  const optional = npmEnv(env, 'optional');
  if (optional && optional.value === 'false') omitted.push(`${optional.name}=false is set in the environment`);
  const userconfig = (npmEnv(env, 'userconfig') || {}).value || (home && path.join(home, '.npmrc'));
  // npm's global configuration: $PREFIX/etc/npmrc, the prefix being npm's
  // (npm_config_prefix), else node's (<prefix>/bin/node; on Windows <prefix>\node.exe).
  const execPath = more.execPath;
  const nodePrefix = execPath && (io.platform === 'win32' ? path.dirname(execPath) : path.dirname(path.dirname(execPath)));
  const prefix = (npmEnv(env, 'prefix') || {}).value || nodePrefix;
  const globalconfig = (npmEnv(env, 'globalconfig') || {}).value || (prefix && path.join(prefix, 'etc', 'npmrc'));
  // A global install has no project, and no project .npmrc.
  const project = manager.root && !manager.global ? path.join(manager.root, '.npmrc') : null;
  const rcs = [...new Set([project, userconfig, globalconfig].filter(Boolean))];
  for (const rc of rcs) {
    for (const line of npmrcOmits(io.readFile(rc) || '')) omitted.push(`${rc} says ${line}`);
  }
  if (!manager.root) return { omitted, foreignLock };
  const root = manager.root;
  const modules = path.join(root, 'node_modules');
  switch (manager.name) {
    case 'pnpm': {
      // pnpm records what it included in node_modules/.modules.yaml (JSON since pnpm 10, YAML before).
      const text = io.readFile(path.join(modules, '.modules.yaml'));
      if (text !== null) {
        let off = false;
        try {
          off = JSON.parse(text).included.optionalDependencies === false;
        } catch {
          off = /^\s*optionalDependencies:\s*false\s*$/m.test(text);
        }
        if (off) omitted.push(`${path.join(modules, '.modules.yaml')} says optionalDependencies were not included (pnpm install --no-optional)`);
      }
      break;
    }
    case 'yarn': {
      if (!manager.berry) {
        // yarn 1 records no --ignore-optional (its .yarn-integrity flags never
        // hold it): its configuration says it, in the environment and in the
        // project's and the user's .yarnrc.
        if (yarnTrue(env.YARN_IGNORE_OPTIONAL)) omitted.push(`YARN_IGNORE_OPTIONAL=${env.YARN_IGNORE_OPTIONAL} is set in the environment`);
        const yarnrcs = [...new Set([path.join(root, '.yarnrc'), home && path.join(home, '.yarnrc')].filter(Boolean))];
        for (const rc of yarnrcs) {
          for (const line of yarnrcIgnores(io.readFile(rc) || '')) omitted.push(`${rc} says ${line}`);
        }
        break;
      }
      // yarn 2+ installs the packages of supportedArchitectures only: this
      // machine's os, cpu and (Linux) libc, or "current", must be in each list given.
      const rcFile = path.join(root, '.yarnrc.yml');
      const archs = supportedArchitectures(io.readFile(rcFile) || '');
      const host = more.host || { platform: io.platform, arch: io.arch };
      if (archs) {
        const mine = { os: host.platform, cpu: host.arch, libc: host.platform === 'linux' ? host.libc : undefined };
        const out = Object.entries(mine).filter(([k, v]) => v && archs[k] && !archs[k].includes(v) && !archs[k].includes('current'));
        if (out.length) {
          omitted.push(`${rcFile} sets supportedArchitectures without this machine's ${out.map(([k, v]) => `${k} ${v}`).join(', ')}`);
        }
      }
      break;
    }
    case 'bun': {
      const rc = io.readFile(path.join(root, 'bunfig.toml'));
      if (rc !== null && /^\s*optional\s*=\s*false\s*$/m.test(rc)) omitted.push(`${path.join(root, 'bunfig.toml')} says optional = false`);
      break;
    }
    default:
      break;
  }
  // A lockfile that lists a candidate which is not installed: the install left
  // it out (--omit=optional, --no-optional). One that lists none of them but
  // other platforms' packages was written on another OS (npm/cli#4828).
  const lockfiles = ['npm-shrinkwrap.json', 'package-lock.json', 'pnpm-lock.yaml', 'bun.lock', 'bun.lockb', 'yarn.lock'];
  for (const name of lockfiles) {
    const file = path.join(root, name);
    const raw = io.readFile(file);
    if (raw === null) continue;
    const listed = names.filter((n) => lists(raw, n));
    if (listed.length) {
      omitted.push(`${file} lists ${listed[0]}, which is not installed: the install left it out`);
    } else if (!all.some((n) => lists(raw, n)) && others.some((e) => lists(raw, e.package))) {
      foreignLock = file;
    }
    break;
  }
  return { omitted, foreignLock };
}

/**
 * The command that repairs the install, for people: one line, or more (a
 * fallback after the first), to run where the install is (a project's
 * directory). manager is detectManager's, evidence omissions'. platform
 * (process.platform) says how: on Windows a line says where to run what
 * (cmd.exe and PowerShell 5.1 take no `cd … &&`, nor rm -rf).
 */
function fixFor(manager, evidence, version, platform = 'linux') {
  const win = platform === 'win32';
  // The package to reinstall globally: agent-facets, or the tool that brought it.
  const pkg = manager.top && manager.top !== 'agent-facets' ? manager.top : `agent-facets@${version}`;
  const at = (cmd) => {
    if (!manager.root) return cmd;
    return win ? `In ${manager.root} run: ${cmd}` : `cd ${quote(manager.root)} && ${cmd}`;
  };
  // Deleting the lockfile of another OS (and node_modules), then installing.
  const afresh = (cmd) => {
    const lock = (win ? path.win32 : path).basename(evidence.foreignLock);
    if (!win) return at(`rm -rf node_modules ${lock} && ${cmd}`);
    const del = `Remove-Item -Recurse -Force node_modules, ${lock}; ${cmd}`;
    return manager.root ? `In PowerShell, in ${manager.root} run: ${del}` : `In PowerShell run: ${del}`;
  };
  switch (manager.name) {
    case 'npm':
      // The prefix npm installed into, which may not be its default.
      if (manager.global) return `npm install --global${manager.root ? ` --prefix ${quoteFor(platform, manager.root)}` : ''} ${pkg} --include=optional`;
      // npm 11's install completes a lockfile of another OS: deleting it is the fallback.
      if (evidence.foreignLock) return `${at('npm install --include=optional')}\nif facet still finds no binary: ${afresh('npm install --include=optional')}`;
      return at('npm install --include=optional');
    case 'pnpm':
      if (manager.global) return `pnpm add --global ${pkg}`;
      if (evidence.foreignLock) return afresh('pnpm install');
      return at('pnpm install');
    case 'yarn':
      if (manager.global) return `yarn global add ${pkg}`;
      if (evidence.foreignLock) return afresh('yarn install');
      return at(manager.berry ? 'yarn install' : 'yarn install --force');
    case 'bun':
      if (manager.global) return `bun add --global ${pkg}`;
      if (evidence.foreignLock) return afresh('bun install');
      return at('bun install');
    default:
      return null;
  }
}

/**
 * What to do when a candidate is installed but cannot run (survey's
 * 'refused' and 'failed'): reinstalling does not help then. One line per
 * such candidate, or null when there is none.
 */
function blockedFix(survey) {
  const lines = [];
  for (const c of survey || []) {
    if (c.state === 'refused') {
      lines.push(`${c.path} is installed but refused (${c.why}): remove it, or have its owner remove it; reinstalling does not help.`);
    } else if (c.state === 'failed' && /could not be started \((EACCES|EPERM)\)/.test(c.why)) {
      lines.push(`${c.path} ${c.why.replace(/^it /, '')}: make it executable (chmod +x), or install on a file system mounted without noexec; reinstalling does not help.`);
    } else if (c.state === 'failed') {
      lines.push(`${c.path} is installed but fails its --version check (${c.why}): its error above says why; reinstalling does not help.`);
    }
  }
  return lines.length ? lines.join('\n') : null;
}

/** The fix when no manager is known: npm's, the global install's on a line of its own. */
function genericFix(version) {
  return `npm install --include=optional\nor, for a global install: npm install --global agent-facets@${version} --include=optional`;
}

/** A path as a POSIX shell reads it: quoted when it holds anything but safe characters. */
function quote(p) {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
}

/** A path as platform's shells read it: on Windows in double quotes when it holds a space or the like (cmd.exe and PowerShell both take them). */
function quoteFor(platform, p) {
  if (platform !== 'win32') return quote(p);
  return /^[\w@%+=:,./\\-]+$/.test(p) ? p : `"${p}"`;
}

/** How a manager is named for people: "npm", "yarn 1", "yarn 2 or later", with "(global)". */
function managerName(manager) {
  if (!manager.name) return null;
  const name = manager.name === 'yarn' ? (manager.berry ? 'yarn 2 or later' : 'yarn 1') : manager.name;
  return manager.global ? `${name} (global install)` : name;
}

/**
 * What `facet doctor` prints when no binary runs here (facts from
 * platform.js): the machine, Node, every candidate and why it was passed
 * over, the manager, whether optional dependencies were left out, and the fix.
 *   facts = { version, host (a description), node, execPath, packageDir,
 *     candidates: [{ package, state, path?, why? }], foreign: [package],
 *     manager, evidence, fix, userAgent }
 * state is 'missing', 'refused' (why: systemWhere.judge's), 'foreign' (why:
 * the header's machine) or 'failed' (why: its --version run).
 */
function report(facts) {
  const lines = [
    `facet doctor: agent-facets@${facts.version} found no facet binary that runs on this machine.`,
    '',
    `Machine:     ${facts.host}`,
    `Node.js:     ${facts.node} (${facts.execPath})`,
    `Launcher:    ${facts.packageDir}`,
    `Installed by: ${managerName(facts.manager) || 'unknown (no lockfile or package manager state found)'}` +
      (facts.manager.evidence.length ? ` (${facts.manager.evidence.join(', ')})` : ''),
  ];
  if (facts.userAgent) lines.push(`Run by:      ${facts.userAgent.name} ${facts.userAgent.version} (npm_config_user_agent)`);
  lines.push('', 'Packages for this machine, best first:');
  if (!facts.candidates.length) lines.push('  none: this platform is not supported');
  for (const c of facts.candidates) {
    const state = {
      missing: 'not installed',
      refused: `found at ${c.path}, but refused: ${c.why}`,
      foreign: `installed at ${c.path}, but built for another machine: ${c.why}`,
      failed: `installed at ${c.path}, but failed its --version check: ${c.why}`,
    }[c.state];
    lines.push(`  ${c.package}: ${state}`);
  }
  if (facts.foreign.length) lines.push('', `Installed instead, for other machines: ${facts.foreign.join(', ')} (node_modules was copied from another machine, or installed there)`);
  lines.push('');
  if (facts.evidence.omitted.length) {
    lines.push('Optional dependencies: left out.', ...facts.evidence.omitted.map((s) => `  ${s}`));
  } else {
    lines.push('Optional dependencies: no sign that they were left out.');
  }
  if (facts.evidence.foreignLock) {
    lines.push('', `${facts.evidence.foreignLock} lists other platforms' packages but none of these: it was written on another OS (npm/cli#4828).`);
  }
  const fix = facts.fix || genericFix(facts.version);
  lines.push('', 'To fix:', ...fix.split('\n').map((l) => `  ${l}`));
  if (!facts.blocked && facts.evidence.omitted.some((s) => / says (omit(\[\])?|optional|include-optional) *=|ignore-optional/.test(s))) {
    lines.push('  and remove the setting that leaves optional dependencies out (above), or every install will leave them out again.');
  }
  lines.push('');
  return lines.join('\n');
}

module.exports = { MANAGERS, rootOf, userAgentOf, detectManager, npmrcOmits, yarnrcIgnores, supportedArchitectures, omissions, fixFor, blockedFix, genericFix, managerName, report };
