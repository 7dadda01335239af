// Starting and stopping the cluster's processes by pid. Each pid is recorded with the binary
// it runs, so a stale pid reused by another program after a crash is never signalled.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface ProcessRecord {
  readonly name: string;
  readonly pid: number;
  /** The executable path; the pid is ours only while /proc/<pid>/cmdline starts with it. */
  readonly command: string;
}

/** True while `record.pid` runs `record.command` and is not a zombie. */
export function isRunning(record: ProcessRecord): boolean {
  try {
    const stat = readFileSync(`/proc/${record.pid}/stat`, 'utf8');
    // The state follows the parenthesised command name, which may itself hold spaces.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    const argv0 = readFileSync(`/proc/${record.pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    return argv0 === record.command;
  } catch {
    return false;
  }
}

/** Starts `command` detached in its own process group, output appended to `logFile`. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  logFile: string,
  env: NodeJS.ProcessEnv = process.env,
  cwd?: string,
): ProcessRecord {
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(command, args, { detached: true, stdio: ['ignore', fd, fd], env, cwd });
    if (child.pid === undefined) throw new Error(`Could not start ${name} (${command})`);
    child.unref();
    return { name, pid: child.pid, command };
  } finally {
    closeSync(fd);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sends SIGTERM, waits up to `graceMs`, then SIGKILL. Returns false if it was not running. */
export async function stopProcess(record: ProcessRecord, graceMs = 10_000): Promise<boolean> {
  if (!isRunning(record)) return false;
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return false;
  }
  const deadline = Date.now() + graceMs;
  while (isRunning(record) && Date.now() < deadline) await sleep(50);
  if (isRunning(record)) {
    try {
      process.kill(record.pid, 'SIGKILL');
    } catch {
      // Exited between the check and the signal.
    }
    while (isRunning(record)) await sleep(20);
  }
  return true;
}

/** Asks the kernel for `count` distinct free loopback ports. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import('node:net').Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (address === null || typeof address === 'string') throw new Error('No port assigned');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
