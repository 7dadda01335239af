// Status in parts, the replaced-volume decision, and the step runner's requeue: pure pieces of
// the reconcile, tested as tables and properties.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Trench } from '../../../charts/api/trench.js';
import { nullLogger } from '../../../operator/runtime/log.js';
import {
  type Pass,
  runSteps,
  type Step,
  type TrenchDeps,
} from '../../../operator/trench/reconcile.js';
import {
  mergeStatus,
  type StackPart,
  type StatusPart,
  stackStatus,
} from '../../../operator/trench/status.js';
import {
  acceptVolumeAnnotation,
  checkVolume,
  type VolumeInput,
} from '../../../operator/trench/volumes.js';

const NOW = Date.parse('2026-12-02T10:00:00Z');
const trench = {
  metadata: { name: 'shop', namespace: 'prod', generation: 4 },
  spec: { api: { image: 'a' }, worker: { image: 'w' } },
  status: {
    phase: 'Ready',
    worker: { backlog: 42 },
    rollout: { phase: 'Healthy' },
  },
} as unknown as Pick<Trench, 'metadata' | 'spec' | 'status'>;

const ready = (): StackPart => stackStatus({ trench, workloads: [], missing: [], now: NOW });
const cond = (s: ReturnType<typeof mergeStatus>, type: string) =>
  s.conditions?.find((c) => c.type === type);

describe('mergeStatus', () => {
  it('keeps fields no part mentions (another loop owns them)', () => {
    const s = mergeStatus({ trench, stack: ready(), parts: [], now: NOW });
    expect(s.rollout).toEqual({ phase: 'Healthy' });
    expect(s.worker?.backlog).toBe(42);
    expect(s.phase).toBe('Ready');
    expect(s.observedGeneration).toBe(4);
  });

  it('adds each part’s fields and conditions, and removes a field set to undefined', () => {
    const parts: StatusPart[] = [
      { fields: { rollout: undefined } },
      { conditions: [{ type: 'ScalingActive', status: 'True', reason: 'Polled', message: 'ok' }] },
    ];
    const s = mergeStatus({ trench, stack: ready(), parts, now: NOW });
    expect(s.rollout).toBeUndefined();
    expect(cond(s, 'ScalingActive')).toMatchObject({ status: 'True', observedGeneration: 4 });
  });

  it('a critical problem makes the Trench Degraded and not Ready, naming the first reason', () => {
    const parts: StatusPart[] = [
      { problems: [{ severity: 'warning', reason: 'RedisVolumeReplaced', message: 'redis' }] },
      { problems: [{ severity: 'critical', reason: 'PostgresVolumeReplaced', message: 'pg' }] },
    ];
    const s = mergeStatus({ trench, stack: ready(), parts, now: NOW });
    expect(s.phase).toBe('Degraded');
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'PostgresVolumeReplaced' });
    expect(cond(s, 'Degraded')).toMatchObject({
      status: 'True',
      reason: 'PostgresVolumeReplaced',
      message: 'redis; pg',
    });
  });

  it('a warning sets Degraded but leaves Ready and the phase to the stack', () => {
    const parts: StatusPart[] = [
      { problems: [{ severity: 'warning', reason: 'RedisVolumeReplaced', message: 'redis' }] },
    ];
    const s = mergeStatus({ trench, stack: ready(), parts, now: NOW });
    expect(s.phase).toBe('Ready');
    expect(cond(s, 'Ready')?.status).toBe('True');
    expect(cond(s, 'Degraded')).toMatchObject({ status: 'True', reason: 'RedisVolumeReplaced' });
  });

  it('an invalid spec stays Failed whatever the parts say', () => {
    const stack = stackStatus({ trench, workloads: [], missing: [], invalid: 'bad', now: NOW });
    const parts: StatusPart[] = [
      { problems: [{ severity: 'critical', reason: 'PostgresVolumeReplaced', message: 'pg' }] },
    ];
    const s = mergeStatus({ trench, stack, parts, now: NOW });
    expect(s.phase).toBe('Failed');
    expect(cond(s, 'Degraded')?.reason).toBe('InvalidSpec');
  });

  it('is stable: merging its own output again changes nothing (property)', () => {
    const problem = fc.record({
      severity: fc.constantFrom('critical' as const, 'warning' as const),
      reason: fc.constantFrom('PostgresVolumeReplaced', 'RedisVolumeReplaced', 'ScalerDown'),
      message: fc.string(),
    });
    fc.assert(
      fc.property(fc.array(fc.record({ problems: fc.array(problem) })), (parts) => {
        const once = mergeStatus({ trench, stack: ready(), parts, now: NOW });
        const twice = mergeStatus({
          trench: { ...trench, status: once },
          stack: ready(),
          parts,
          now: NOW + 60_000,
        });
        expect(twice).toEqual(once);
      }),
    );
  });
});

describe('checkVolume', () => {
  const base: VolumeInput = {
    component: 'postgres',
    trench: { name: 'shop', namespace: 'prod' },
    claim: 'data-shop-postgres-0',
    recorded: undefined,
    live: undefined,
    accepted: undefined,
  };
  const rec = { claim: 'data-shop-postgres-0', uid: 'A' };
  const at = (uid: string, deleting = false) => ({ uid, deleting });

  it.each([
    ['nothing yet', {}, undefined, undefined],
    ['first claim seen is recorded', { live: at('A') }, rec, undefined],
    ['a claim being deleted is not recorded', { live: at('A', true) }, undefined, undefined],
    ['the same claim holds', { recorded: rec, live: at('A') }, rec, undefined],
    ['a claim deleted and not yet replaced', { recorded: rec }, rec, undefined],
    ['the old claim going away', { recorded: rec, live: at('A', true) }, rec, undefined],
    [
      'a new claim in its place',
      { recorded: rec, live: at('B') },
      { ...rec, replacedBy: 'B' },
      'PostgresVolumeReplaced',
    ],
    [
      'still replaced on later passes',
      { recorded: { ...rec, replacedBy: 'B' }, live: at('B') },
      { ...rec, replacedBy: 'B' },
      'PostgresVolumeReplaced',
    ],
    [
      'acknowledged for another uid',
      { recorded: { ...rec, replacedBy: 'B' }, live: at('B'), accepted: 'C' },
      { ...rec, replacedBy: 'B' },
      'PostgresVolumeReplaced',
    ],
    [
      'acknowledged: the new claim becomes the one that holds the data',
      { recorded: { ...rec, replacedBy: 'B' }, live: at('B'), accepted: 'B' },
      { claim: rec.claim, uid: 'B' },
      undefined,
    ],
    [
      'replaced twice: the newest replacement is named',
      { recorded: { ...rec, replacedBy: 'B' }, live: at('C'), accepted: 'B' },
      { ...rec, replacedBy: 'C' },
      'PostgresVolumeReplaced',
    ],
    [
      'the claim name changed (a renamed StatefulSet): start over',
      { recorded: { claim: 'data-old-0', uid: 'Z' }, live: at('A') },
      rec,
      undefined,
    ],
  ] as const)('%s', (_n, over, record, reason) => {
    const v = checkVolume({ ...base, ...over } as VolumeInput);
    expect(v.record).toEqual(record);
    expect(v.problem?.reason).toBe(reason);
  });

  it('says how to acknowledge, and sends the event only on the first pass', () => {
    const first = checkVolume({ ...base, recorded: rec, live: at('B') });
    expect(first.newlyReplaced).toBe(true);
    expect(first.problem?.severity).toBe('critical');
    expect(first.problem?.message).toContain('data-shop-postgres-0 (uid A)');
    expect(first.problem?.message).toContain(
      `kubectl annotate trench shop -n prod ${acceptVolumeAnnotation('postgres')}=B`,
    );
    const again = checkVolume({ ...base, recorded: first.record, live: at('B') });
    expect(again.newlyReplaced).toBe(false);
    expect(again.problem).toBeDefined();
  });

  it('names the newest completed backup and the command that restores it, or says there is none', () => {
    const withBackup = checkVolume({
      ...base,
      recorded: rec,
      live: at('B'),
      newestBackup: { name: 'shop-202612040300', time: '2026-12-04T03:00:41Z' },
    });
    expect(withBackup.problem?.message).toContain(
      'Restore the newest completed backup, shop-202612040300 (completed 2026-12-04T03:00:41Z), with: kubectl trench restore shop -n prod --from shop-202612040300, then acknowledge',
    );
    const without = checkVolume({ ...base, recorded: rec, live: at('B') });
    expect(without.problem?.message).toContain('this Trench has no completed backup to restore');
  });

  it('a replaced Redis claim is a warning: the queue is rebuildable', () => {
    const v = checkVolume({
      ...base,
      component: 'redis',
      claim: 'data-shop-redis-0',
      recorded: { claim: 'data-shop-redis-0', uid: 'A' },
      live: at('B'),
    });
    expect(v.problem).toMatchObject({ severity: 'warning', reason: 'RedisVolumeReplaced' });
  });
});

describe('runSteps', () => {
  const deps = { log: nullLogger } as unknown as TrenchDeps;
  const pass = () => ({ parts: [] }) as unknown as Pass;
  const step = (name: string, out: string[], result?: object, always = false): Step => ({
    name,
    always,
    run: async () => {
      out.push(name);
      return result;
    },
  });

  it('returns the earliest requeue any step asked for', async () => {
    const out: string[] = [];
    const after = await runSteps(
      [
        step('a', out, { requeueAfterMs: 60_000 }),
        step('b', out),
        step('c', out, { requeueAfterMs: 5_000 }),
        step('d', out, { requeueAfterMs: 30_000 }),
      ],
      deps,
      pass(),
    );
    expect(after).toBe(5_000);
    expect(out).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a stop skips the work steps but not the status steps', async () => {
    const out: string[] = [];
    const after = await runSteps(
      [
        step('render', out, { stop: true }),
        step('apply', out, { requeueAfterMs: 1 }),
        step('status', out, undefined, true),
      ],
      deps,
      pass(),
    );
    expect(out).toEqual(['render', 'status']);
    expect(after).toBeUndefined();
  });
});
