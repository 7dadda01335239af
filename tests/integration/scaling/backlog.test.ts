import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Queue as Queue5 } from 'bullmq5';
import { Queue as Queue6, Worker as Worker6 } from 'bullmq6';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePorts } from '../../../hack/lib/processes.js';
import {
  backlogOf,
  countQueues,
  dueScore,
  QueueCountError,
  type QueueCounts,
} from '../../../operator/scaling/backlog.js';
import { connectionKey, RedisConnections } from '../../../operator/scaling/connections.js';
import { LookupLimiter } from '../../../operator/scaling/lookup.js';
import {
  type HostProcess,
  type RedisServer,
  startIdleShopWorker,
  startRedis,
} from '../support/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let redis: RedisServer;
let client: Redis;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { maxRetriesPerRequest: 0 });
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  client?.disconnect();
  await redis?.stop();
});

const connection = () => ({ host: '127.0.0.1', port: redis.port, password: redis.password });

async function count(queue: string, prefix = 'bull'): Promise<QueueCounts> {
  const [c] = await countQueues(client, [{ prefix, queue }], Date.now());
  return c!;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(100);
  }
}

type AnyQueue = Queue5 | Queue6;
const majors: [string, (name: string, prefix?: string) => AnyQueue][] = [
  [
    'BullMQ 5',
    (name, prefix) => new Queue5(name, { connection: connection(), ...(prefix ? { prefix } : {}) }),
  ],
  [
    'BullMQ 6',
    (name, prefix) => new Queue6(name, { connection: connection(), ...(prefix ? { prefix } : {}) }),
  ],
];

describe.each(majors)('%s', (major, makeQueue) => {
  const tag = major.replace(/\W/g, '').toLowerCase();

  it('counts waiting, prioritized and due delayed jobs, and not the delayed ones still ahead', async () => {
    const q = makeQueue(`${tag}-mixed`);
    cleanups.push(() => q.close());
    await q.addBulk([1, 2, 3].map((i) => ({ name: 'plain', data: { i } })));
    await q.add('urgent', {}, { priority: 1 });
    await q.add('urgent', {}, { priority: 5 });
    await q.add('later', {}, { delay: 3_600_000 });
    await q.add('later', {}, { delay: 3_600_000 });
    await q.add('soon', {}, { delay: 1 });
    await sleep(20);
    const c = await count(`${tag}-mixed`);
    expect(c).toMatchObject({
      exists: true,
      paused: false,
      wait: 3,
      prioritized: 2,
      delayedDue: 1,
      active: 0,
    });
    expect(backlogOf(c)).toBe(6);
    // BullMQ's own counts agree once its delayed jobs are told apart by due time.
    const own = await q.getJobCounts('waiting', 'prioritized', 'delayed');
    expect(own).toMatchObject({ waiting: 3, prioritized: 2, delayed: 3 });
  });

  it('still counts the jobs of a paused queue, wherever the version keeps them', async () => {
    const q = makeQueue(`${tag}-paused`);
    cleanups.push(() => q.close());
    await q.addBulk([1, 2, 3, 4].map((i) => ({ name: 'plain', data: { i } })));
    await q.pause();
    const c = await count(`${tag}-paused`);
    expect(c.paused).toBe(true);
    expect(backlogOf(c)).toBe(4);
    if (major === 'BullMQ 5') expect([c.wait, c.pausedJobs]).toEqual([0, 4]);
    else expect([c.wait, c.pausedJobs]).toEqual([4, 0]);
    await q.resume();
    const resumed = await count(`${tag}-paused`);
    expect([resumed.paused, backlogOf(resumed)]).toEqual([false, 4]);
  });

  it('reads another prefix when the Trench names one', async () => {
    const q = makeQueue(`${tag}-prefixed`, 'shop');
    cleanups.push(() => q.close());
    await q.add('plain', {});
    expect(backlogOf(await count(`${tag}-prefixed`, 'shop'))).toBe(1);
    expect(await count(`${tag}-prefixed`)).toMatchObject({ exists: false, wait: 0 });
  });
});

describe('active jobs', () => {
  it('counts the jobs the sample worker (BullMQ 5) is running apart from the backlog', async () => {
    const q = new Queue5('shop-active', { connection: connection() });
    cleanups.push(() => q.close());
    await q.addBulk([1, 2, 3, 4, 5].map(() => ({ name: 'sleep', data: { ms: 60_000 } })));
    const worker: HostProcess = startIdleShopWorker(redis.url, 'shop-active', 2);
    // SIGKILL at the end: a graceful close would wait a minute for the sleeping jobs.
    cleanups.push(async () => {
      try {
        process.kill(worker.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
      await worker.exited;
    });
    const c = await until('two active jobs', async () => {
      const n = await count('shop-active');
      return n.active === 2 ? n : undefined;
    });
    expect(backlogOf(c)).toBe(3);
  });

  it('counts the jobs a BullMQ 6 Worker is running', async () => {
    const q = new Queue6('bullmq6-active', { connection: connection() });
    cleanups.push(() => q.close());
    let release: () => void = () => undefined;
    const hold = new Promise<void>((r) => {
      release = r;
    });
    const worker = new Worker6('bullmq6-active', () => hold, {
      connection: connection(),
      concurrency: 3,
    });
    cleanups.push(async () => {
      release();
      await worker.close();
    });
    await q.addBulk([1, 2, 3, 4].map(() => ({ name: 'hold', data: {} })));
    const c = await until('three active jobs', async () => {
      const n = await count('bullmq6-active');
      return n.active === 3 ? n : undefined;
    });
    expect(backlogOf(c)).toBe(1);
  });
});

describe('countQueues', () => {
  it('reports a queue nothing has used yet as missing, with zero counts', async () => {
    expect(await count('never-used')).toEqual({
      prefix: 'bull',
      queue: 'never-used',
      exists: false,
      paused: false,
      wait: 0,
      prioritized: 0,
      pausedJobs: 0,
      delayedDue: 0,
      active: 0,
    });
  });

  it('counts 200 queues with 7 commands each and nothing more', async () => {
    const queues = Array.from({ length: 200 }, (_, i) => ({ prefix: 'bull', queue: `many-${i}` }));
    await client.rpush('bull:many-7:wait', 'a', 'b');
    await client.zadd('bull:many-9:delayed', dueScore(Date.now() - 1000), 'c');
    await client.zadd('bull:many-9:delayed', dueScore(Date.now() + 60_000), 'd');
    // Read on one connection of its own: redis-cli would add an AUTH per call.
    const observer = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    cleanups.push(async () => observer.disconnect());
    const stats = async () => {
      const info = await observer.info('stats');
      return Number(/total_commands_processed:(\d+)/.exec(info)![1]);
    };
    await stats();
    const before = await stats();
    const counts = await countQueues(client, queues, Date.now());
    const after = await stats();
    // A command is counted once it has run: `before` is in the delta, `after` is not.
    expect(after - before - 1).toBe(200 * 7);
    expect(counts.map(backlogOf).reduce((a, b) => a + b)).toBe(3);
    expect(counts[7]!.wait).toBe(2);
    expect(counts[9]!.delayedDue).toBe(1);
  });

  it('fails with the queue named on a wrong password, and on a dead server', async () => {
    const wrong = new Redis(`redis://:not-the-password@127.0.0.1:${redis.port}`, {
      maxRetriesPerRequest: 0,
      lazyConnect: true,
    });
    wrong.on('error', () => undefined);
    await expect(
      countQueues(wrong, [{ prefix: 'bull', queue: 'emails' }], Date.now()),
    ).rejects.toThrow(/WRONGPASS|NOAUTH|invalid password|emails/);
    wrong.disconnect();

    const other = await startRedis('another-password');
    const dying = new Redis(other.url, { maxRetriesPerRequest: 0, commandTimeout: 2_000 });
    dying.on('error', () => undefined);
    expect(
      (await countQueues(dying, [{ prefix: 'bull', queue: 'q' }], Date.now()))[0]!.exists,
    ).toBe(false);
    await other.stop();
    // A dead server fails the count (it is not queued behind reconnects until it returns).
    await expect(
      countQueues(dying, [{ prefix: 'bull', queue: 'q' }], Date.now()),
    ).rejects.toBeInstanceOf(Error);
    dying.disconnect();

    // The operator's shared connections: a server nobody listens on fails the count with the
    // reason, and nothing waits in an offline queue for a reconnect that may never come.
    const connections = new RedisConnections();
    const [closed] = (await freePorts(1)) as [number];
    const nowhere = connections.acquire(`redis://:pw@127.0.0.1:${closed}`, 'ns/nowhere');
    await expect(
      countQueues(nowhere, [{ prefix: 'bull', queue: 'q' }], Date.now()),
    ).rejects.toThrow(/Counting queue q failed: .*ECONNREFUSED/);
    await expect(nowhere.llen('x')).rejects.toThrow(/enableOfflineQueue options is false/);
    await connections.closeAll();
  });

  it('is a QueueCountError naming the queue when one command fails', async () => {
    // A key of the wrong type makes LLEN fail for that queue alone.
    await client.set('bull:typo:wait', 'not a list');
    await expect(count('typo')).rejects.toThrow(
      new QueueCountError(
        'Counting queue typo (prefix bull) failed: WRONGTYPE Operation against a key holding the wrong kind of value',
      ),
    );
  });
});

describe('RedisConnections', () => {
  it('shares one connection per server between Trenches and closes it after the last', async () => {
    const conns = new RedisConnections();
    const a = conns.acquire(redis.url, 'ns/a');
    const b = conns.acquire(`redis://:${redis.password}@127.0.0.1:${redis.port}/0`, 'ns/b');
    expect(b).toBe(a);
    expect(conns.size).toBe(1);
    expect((await countQueues(a, [{ prefix: 'bull', queue: 'x' }], Date.now())).length).toBe(1);
    conns.release('ns/a');
    expect(conns.size).toBe(1);
    expect(a.status).not.toBe('end');
    conns.release('ns/b');
    expect(conns.size).toBe(0);
    await until('the shared connection to close', async () =>
      a.status === 'end' ? true : undefined,
    );
    await conns.closeAll();
  });

  it('moves a Trench whose Redis changed, closing the old connection', async () => {
    const conns = new RedisConnections();
    const first = conns.acquire(redis.url, 'ns/a');
    const other = conns.acquire(`redis://:${redis.password}@localhost:${redis.port}`, 'ns/a');
    expect(other).not.toBe(first);
    expect(conns.size).toBe(1);
    await until('the old connection to close', async () =>
      first.status === 'end' ? true : undefined,
    );
    await conns.closeAll();
  });

  it('looks host names up through the bounded lookup, and a lookup that waits too long fails', async () => {
    // A resolver for which one name never answers (a DNS outage for it), with one slot.
    const stuck: string[] = [];
    const resolver: LookupFunction = (hostname, options, callback) => {
      if (hostname === 'stuck.invalid') stuck.push(hostname);
      else dnsLookup(hostname, options, callback);
    };
    const lookups = new LookupLimiter({ concurrency: 1, maxWaitMs: 1000, lookup: resolver });
    const conns = new RedisConnections({ lookups });
    const named = conns.acquire(`redis://:${redis.password}@localhost:${redis.port}`, 'ns/named');
    expect((await countQueues(named, [{ prefix: 'bull', queue: 'x' }], Date.now())).length).toBe(1);
    expect(lookups.started).toBe(1);
    // The stuck name holds the one slot; the next server's lookup is refused after its wait,
    // with the reason, instead of queueing behind it for as long as the resolver takes.
    conns.acquire(`redis://:pw@stuck.invalid:6379`, 'ns/stuck');
    await until('the stuck lookup to start', async () => (stuck.length > 0 ? true : undefined));
    const behind = conns.acquire(`redis://:${redis.password}@localhost:${redis.port}/1`, 'ns/b');
    await expect(countQueues(behind, [{ prefix: 'bull', queue: 'x' }], Date.now())).rejects.toThrow(
      /EAI_AGAIN|DNS lookup of localhost not started within 1000 ms/,
    );
    expect(lookups.refused).toBeGreaterThan(0);
    expect(lookups.inFlight).toBe(1);
    await conns.closeAll();
  });

  it('keys servers by what identifies them, and refuses other schemes', () => {
    expect(connectionKey('redis://:pw@h:6379')).toBe(connectionKey('redis://:pw@h/0'));
    expect(connectionKey('redis://:pw@h:6379/1')).not.toBe(connectionKey('redis://:pw@h:6379/0'));
    expect(connectionKey('rediss://u:pw@h')).not.toBe(connectionKey('redis://u:pw@h'));
    expect(() => connectionKey('http://h')).toThrow(
      'A Redis URL must start with redis:// or rediss://, got http://...',
    );
  });
});
