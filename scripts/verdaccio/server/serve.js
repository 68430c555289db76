'use strict';
// Starts Verdaccio with the configuration file named by the first argument on
// a free loopback port, and says which on stdout:
//   verdaccio listening on port <n>
// It stops when its standard input closes, so that it never outlives the Go
// process that started it.
const { runServer } = require('verdaccio');

runServer(process.argv[2]).then(
  (server) => {
    // Only a client closes an idle connection. Node closes one 5 s after
    // its last answer (keepAliveTimeout, 0 in the configuration), and one
    // that never carried a request after 60-90 s (headersTimeout, checked
    // every 30 s); a PUT a client sends on it just then is reset, and a PUT
    // is not retried. Go's transport keeps such unused connections: it
    // dials one for a request that an idle connection then takes.
    server.headersTimeout = 0;
    server.requestTimeout = 0;
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
