'use strict';
// Starts Verdaccio with the configuration file named by the first argument on
// a free loopback port, and says which on stdout:
//   verdaccio listening on port <n>
// It stops when its standard input closes, so that it never outlives the Go
// process that started it.
const { runServer } = require('verdaccio');

runServer(process.argv[2]).then(
  (server) => {
    server.listen(0, '127.0.0.1', () => {
      process.stdout.write(`verdaccio listening on port ${server.address().port}\n`);
    });
    process.stdin.on('end', () => process.exit(0));
    process.stdin.resume();
  },
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
