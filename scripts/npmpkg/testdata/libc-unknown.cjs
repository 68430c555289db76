'use strict';
// Preload (NODE_OPTIONS=--require) that makes npm unable to tell this
// machine's libc, as on a distribution whose /usr/bin/ldd is missing and whose
// Node reports no glibc: npm-install-checks reads /usr/bin/ldd, then asks
// process.report for glibcVersionRuntime. Both probes find nothing here.
const fs = require('fs');
const LDD = '/usr/bin/ldd';
const isLdd = (p) => String(p) === LDD;
const missing = () => Object.assign(new Error(`ENOENT: no such file or directory, open '${LDD}'`), { code: 'ENOENT', path: LDD });

const readFileSync = fs.readFileSync;
fs.readFileSync = function (p, ...rest) {
  if (isLdd(p)) throw missing();
  return readFileSync.call(this, p, ...rest);
};
const readFile = fs.readFile;
fs.readFile = function (p, ...rest) {
  if (!isLdd(p)) return readFile.call(this, p, ...rest);
  const cb = rest[rest.length - 1];
  process.nextTick(() => cb(missing()));
};
const promisesReadFile = fs.promises.readFile;
fs.promises.readFile = function (p, ...rest) {
  return isLdd(p) ? Promise.reject(missing()) : promisesReadFile.call(this, p, ...rest);
};
const getReport = process.report.getReport.bind(process.report);
process.report.getReport = (...args) => {
  const r = getReport(...args);
  if (r && r.header) {
    delete r.header.glibcVersionRuntime;
    delete r.header.glibcVersionCompiler;
  }
  return r;
};
