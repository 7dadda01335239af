// Entry point of `kubectl trench`, started by operator/cli/kubectl-trench.
import { EXIT } from './format.js';
import { type Io, run } from './run.js';

const io: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

let code: number;
try {
  code = await run(process.argv.slice(2), io);
} catch (error) {
  io.err(
    `kubectl-trench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  code = EXIT.internal;
}
// Exit explicitly: a request abandoned on timeout keeps its socket open, and would hold the
// process (and the script waiting on it) until the server gives up. Both streams are flushed
// first, since writes to a pipe are asynchronous and exit() would cut them short.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
