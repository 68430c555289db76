// Package installsh runs install.sh, the repository's installer for machines
// without Node, for tests and the rehearsal: [Command] runs it under a given
// POSIX shell with an explicit environment (registry, install directory,
// home, PATH), and [ReadReceipt] reads the receipt it writes.
//
// Its tests are the proof of install.sh: they run it under dash, bash and
// busybox ash against one registry test bed (Verdaccio behind npmjs.com's
// stand-in) holding real releases, and run its machine detection on the
// fake machines the launcher's tests use (platforms/npm/test/machines.json).
// It is test support: only tests and the rehearsal use it.
package installsh
