// What the entry points share: config errors exit 2 with the message, SIGTERM and SIGINT run
// one graceful close, and a second signal forces the exit.
import { ConfigError } from './env.js';
import { log } from './log.js';

export function runMain(what: string, start: () => Promise<() => Promise<void>>): void {
  start()
    .then((close) => {
      let closing = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (closing) {
          log('warn', `Forced ${what} exit on a second signal`, { signal });
          process.exit(1);
        }
        closing = true;
        log('info', `Received ${signal}, closing ${what}`);
        close().then(
          () => {
            log('info', `Closed ${what}`);
            process.exit(0);
          },
          (err: unknown) => {
            log('error', `Failed to close ${what}`, { error: String(err) });
            process.exit(1);
          },
        );
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
    })
    .catch((err: unknown) => {
      if (err instanceof ConfigError) {
        process.stderr.write(`${what}: ${err.message}\n`);
        process.exit(2);
      }
      log('error', `Failed to start ${what}`, { error: String(err) });
      process.exit(1);
    });
}
