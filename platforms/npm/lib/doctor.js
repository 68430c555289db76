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
  return { root, modules: path.join(root, 'node_modules') };
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
 *   evidence: the files (or variable) that told, for people;
 * }. The files a manager writes into node_modules tell first (pnpm's
 * .modules.yaml, yarn's .yarn-state.yml and .yarn-integrity, npm's
 * .package-lock.json), then the paths only one manager makes (node_modules/.pnpm,
 * node_modules/.bun, the global directories), then the lockfiles, and last
 * npm_config_user_agent, which names the manager that runs facet (a script
 * of package.json, npx), not always the one that installed it.
 */
function detectManager(io, dirs, { pnp = false } = {}) {
  const found = (name, root, evidence, more = {}) => ({ name, berry: false, global: false, root, evidence, ...more });
  if (pnp) return found('yarn', null, ['Plug\'n\'Play (no node_modules)'], { berry: true });
  for (const dir of dirs) {
    const at = rootOf(dir);
    if (!at) continue;
    const { root, modules } = at;
    const parts = path.resolve(dir).split(path.sep);
    const state = (file) => firstOf(io, modules, [file]);
    let file;
    if ((file = state('.modules.yaml')) || parts.includes('.pnpm')) {
      // pnpm's global packages: <PNPM_HOME>/global/<layout>/<hash>/node_modules.
      const global = path.basename(path.dirname(path.dirname(root))) === 'global';
      return found('pnpm', root, [file || path.join(modules, '.pnpm')], { global });
    }
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

/**
 * Why the platform packages may be missing, for the install manager (from
 * detectManager): { omitted: [signals that optional dependencies were left
 * out], foreignLock: a lockfile written on another OS (npm/cli#4828), or null }.
 * Each signal is one line for people. candidates are this machine's packages
 * (none of them installed), others the rest of the table's.
 */
function omissions(io, manager, candidates, others, home) {
  const omitted = [];
  let foreignLock = null;
  const env = io.env;
  const names = candidates.map((e) => e.package);
  // The configuration npm (and pnpm, which reads .npmrc and npm_config_*) installs with.
  const omit = npmEnv(env, 'omit');
  if (omit && /(^|[\s,])optional($|[\s,])/.test(omit.value)) omitted.push(`${omit.name}=${omit.value} is set in the environment`);
  const optional = npmEnv(env, 'optional');
  if (optional && optional.value === 'false') omitted.push(`${optional.name}=false is set in the environment`);
  const userconfig = (npmEnv(env, 'userconfig') || {}).value || (home && path.join(home, '.npmrc'));
  const rcs = [...new Set([manager.root && path.join(manager.root, '.npmrc'), userconfig].filter(Boolean))];
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
      // yarn 1 records its flags in node_modules/.yarn-integrity.
      const text = io.readFile(path.join(modules, '.yarn-integrity'));
      try {
        if (text !== null && (JSON.parse(text).flags || []).includes('ignoreOptional')) {
          omitted.push(`${path.join(modules, '.yarn-integrity')} says optional dependencies were ignored (yarn install --ignore-optional)`);
        }
      } catch {
        // not JSON: says nothing
      }
      // yarn 2+ installs the packages of supportedArchitectures only.
      const rc = io.readFile(path.join(root, '.yarnrc.yml'));
      if (rc !== null && /^supportedArchitectures:/m.test(rc)) {
        omitted.push(`${path.join(root, '.yarnrc.yml')} sets supportedArchitectures: this machine must be among them`);
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
    } else if (others.some((e) => lists(raw, e.package))) {
      foreignLock = file;
    }
    break;
  }
  return { omitted, foreignLock };
}

/**
 * The command that repairs the install, for people: one line, to run where
 * the install is (a project's directory). manager is detectManager's,
 * evidence omissions'.
 */
function fixFor(manager, evidence, version) {
  const spec = `agent-facets@${version}`;
  const inProject = (cmd) => (manager.root ? `cd ${quote(manager.root)} && ${cmd}` : cmd);
  switch (manager.name) {
    case 'npm':
      if (manager.global) return `npm install --global ${spec} --include=optional`;
      if (evidence.foreignLock) return inProject(`rm -rf node_modules ${path.basename(evidence.foreignLock)} && npm install --include=optional`);
      return inProject('npm install --include=optional');
    case 'pnpm':
      if (manager.global) return `pnpm add --global ${spec}`;
      if (evidence.foreignLock) return inProject(`rm -rf node_modules ${path.basename(evidence.foreignLock)} && pnpm install`);
      return inProject('pnpm install');
    case 'yarn':
      if (manager.global) return `yarn global add ${spec}`;
      if (evidence.foreignLock) return inProject(`rm -rf node_modules ${path.basename(evidence.foreignLock)} && yarn install`);
      return inProject(manager.berry ? 'yarn install' : 'yarn install --force');
    case 'bun':
      if (manager.global) return `bun add --global ${spec}`;
      if (evidence.foreignLock) return inProject(`rm -rf node_modules ${path.basename(evidence.foreignLock)} && bun install`);
      return inProject('bun install');
    default:
      return null;
  }
}

/** A path as a POSIX shell reads it: quoted when it holds anything but safe characters. */
function quote(p) {
  return /^[\w@%+=:,./-]+$/.test(p) ? p : `'${p.replace(/'/g, "'\\''")}'`;
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
  lines.push('', 'To fix:', `  ${facts.fix || `npm install --include=optional  (or, for a global install: npm install --global agent-facets@${facts.version} --include=optional)`}`);
  if (facts.evidence.omitted.some((s) => / says (omit(\[\])?|optional|include-optional) *=/.test(s))) {
    lines.push('  and remove the setting that leaves optional dependencies out (above), or every install will leave them out again.');
  }
  lines.push('');
  return lines.join('\n');
}

module.exports = { MANAGERS, rootOf, userAgentOf, detectManager, npmrcOmits, omissions, fixFor, managerName, report };
