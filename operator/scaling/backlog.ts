// Counting BullMQ queues from BullMQ's own keys, for every queue on one Redis server in one
// pipelined round trip. The layout is the same in BullMQ 5 and 6 (checked against both
// packages' Lua scripts): per queue `<prefix>:<queue>:`
//   wait         list   jobs ready to run (BullMQ 6 also keeps a paused queue's jobs here)
//   paused       list   BullMQ 5 moves a paused queue's jobs here
//   prioritized  zset   jobs added with a priority, ready to run
//   delayed      zset   score = timestamp * 0x1000 + counter: due once timestamp <= now
//   active       list   jobs a worker holds now
//   meta         hash   exists once the queue was used; field `paused` while paused
// Jobs waiting for children, completed and failed jobs are not work for more workers.
import type { Redis } from 'ioredis';
import { whenConnected } from './connections.js';

export interface QueueRef {
  readonly prefix: string;
  readonly queue: string;
}

export interface QueueCounts extends QueueRef {
  /** False when the queue has no meta key: nothing has ever used it (yet). */
  readonly exists: boolean;
  readonly paused: boolean;
  readonly wait: number;
  readonly prioritized: number;
  /** BullMQ 5's list of a paused queue's jobs (0 with BullMQ 6). */
  readonly pausedJobs: number;
  readonly delayedDue: number;
  readonly active: number;
}

/** What more workers could run: every waiting job, wherever BullMQ keeps it. */
export function backlogOf(c: QueueCounts): number {
  return c.wait + c.prioritized + c.pausedJobs + c.delayedDue;
}

// The highest score a delayed job due at `now` can have: its timestamp, times 0x1000, plus the
// largest counter. Below 2^53 until the year 2255, so the number is exact.
export function dueScore(now: number): number {
  return Math.floor(now) * 0x1000 + 0xfff;
}

const COMMANDS_PER_QUEUE = 7;
/** How long a check waits for a connection that is being made (the command timeout). */
const CONNECT_WAIT_MS = 2_000;

export class QueueCountError extends Error {
  override readonly name = 'QueueCountError';
}

/**
 * Counts `queues` on `redis` in one pipeline. Throws QueueCountError naming the first queue
 * whose command failed (a wrong password or a lost connection fails them all).
 */
export async function countQueues(
  redis: Redis,
  queues: readonly QueueRef[],
  now: number,
): Promise<QueueCounts[]> {
  if (queues.length === 0) return [];
  try {
    await whenConnected(redis, CONNECT_WAIT_MS);
  } catch (error) {
    throw new QueueCountError(
      `Counting queue ${queues[0]!.queue} failed: ${(error as Error).message}`,
    );
  }
  const pipeline = redis.pipeline();
  const due = String(dueScore(now));
  for (const { prefix, queue } of queues) {
    const key = `${prefix}:${queue}:`;
    pipeline
      .exists(`${key}meta`)
      .hexists(`${key}meta`, 'paused')
      .llen(`${key}wait`)
      .zcard(`${key}prioritized`)
      .llen(`${key}paused`)
      .zcount(`${key}delayed`, '-inf', due)
      .llen(`${key}active`);
  }
  const results = await pipeline.exec();
  if (!results || results.length !== queues.length * COMMANDS_PER_QUEUE) {
    throw new QueueCountError(
      `Redis answered ${results?.length ?? 0} of ${queues.length * COMMANDS_PER_QUEUE} commands`,
    );
  }
  return queues.map((ref, i) => {
    const n = (j: number): number => {
      const [error, value] = results[i * COMMANDS_PER_QUEUE + j]!;
      if (error) {
        throw new QueueCountError(
          `Counting queue ${ref.queue} (prefix ${ref.prefix}) failed: ${error.message}`,
        );
      }
      return Number(value);
    };
    return {
      ...ref,
      exists: n(0) === 1,
      paused: n(1) === 1,
      wait: n(2),
      prioritized: n(3),
      pausedJobs: n(4),
      delayedDue: n(5),
      active: n(6),
    };
  });
}
