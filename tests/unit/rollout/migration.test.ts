import { describe, expect, it } from 'vitest';
import { renderTrench } from '../../../charts/trench-chart.js';
import { type CanaryInput, decideCanary } from '../../../operator/rollout/canary.js';
import {
  migrationJob,
  migrationJobName,
  migrationStep,
  preMigrationBackupName,
} from '../../../operator/rollout/migration.js';
import { releaseDeployments } from '../../../operator/rollout/tracks.js';
import type { KubeObject } from '../../../operator/runtime/types.js';
import { minimal } from '../charts/fixtures.js';

const T0 = Date.parse('2026-12-07T10:00:00Z');
const job = (type?: string, reason?: string) => ({
  status: type ? { conditions: [{ type, status: 'True', ...(reason ? { reason } : {}) }] } : {},
});

describe('migration names', () => {
  it('are the revision’s, within 63 characters', () => {
    expect(migrationJobName('shop', 'abc1234567')).toBe('shop-migrate-abc1234567');
    expect(preMigrationBackupName('shop', 'abc1234567')).toBe('shop-premigrate-abc1234567');
    const long = 'a'.repeat(60);
    const name = preMigrationBackupName(long, 'abc1234567');
    expect(name.length).toBeLessThanOrEqual(63);
    expect(name).toMatch(/-premigrate-abc1234567$/);
    expect(preMigrationBackupName(long, 'abc1234567')).toBe(name);
    expect(preMigrationBackupName(`${long}b`, 'abc1234567')).not.toBe(name);
  });
});

describe('migrationStep', () => {
  const base = { trench: 'shop', revision: 'r2', backupFirst: true };
  it.each([
    ['no backup yet: create it', {}, 'running', 'BackingUp', 'backup'],
    [
      'backup running: wait',
      { backup: { status: { phase: 'Running' } } },
      'running',
      'BackingUp',
      undefined,
    ],
    [
      'backup done: create the Job',
      { backup: { status: { phase: 'Completed' } } },
      'running',
      'Migrating',
      'job',
    ],
    [
      'Job running: wait',
      { backup: { status: { phase: 'Completed' } }, job: job() },
      'running',
      'Migrating',
      undefined,
    ],
    [
      'Job complete: done',
      { backup: { status: { phase: 'Completed' } }, job: job('Complete') },
      'done',
      'Succeeded',
      undefined,
    ],
    ['Job failed', { job: job('Failed', 'BackoffLimitExceeded') }, 'failed', 'Failed', undefined],
    [
      'backup failed',
      { backup: { status: { phase: 'Failed', failureReason: 'connection refused' } } },
      'failed',
      'Failed',
      undefined,
    ],
  ] as const)('%s', (_what, over, gate, phase, create) => {
    const step = migrationStep({ ...base, ...over });
    expect(step.gate.state).toBe(gate);
    expect(step.record.phase).toBe(phase);
    expect(step.create).toBe(create);
  });

  it('names the Job and what to do when it failed; names the backup when that did', () => {
    const failed = migrationStep({ ...base, job: job('Failed', 'BackoffLimitExceeded') });
    expect(failed.gate).toMatchObject({ reason: 'MigrationFailed' });
    expect(failed.gate.message).toBe(
      'Migration Job shop-migrate-r2 failed (BackoffLimitExceeded); see kubectl logs job/shop-migrate-r2. A migration runs once per revision: delete the Job to run it again, then kubectl trench retry',
    );
    const backup = migrationStep({
      ...base,
      backup: { status: { phase: 'Failed', failureReason: 'connection refused' } },
    });
    expect(backup.gate).toEqual({
      state: 'failed',
      reason: 'MigrationBackupFailed',
      message:
        'Pre-migration TrenchBackup shop-premigrate-r2 failed: connection refused; the migration did not run',
    });
  });

  it('goes straight to the Job without backupFirst', () => {
    expect(migrationStep({ ...base, backupFirst: false })).toMatchObject({
      create: 'job',
      record: { phase: 'Migrating', job: 'shop-migrate-r2' },
    });
    expect(migrationStep({ ...base, backupFirst: false }).record.backup).toBeUndefined();
  });
});

describe('migrationJob', () => {
  it('runs the command with the API image and environment, once, as the Trench child', () => {
    const t = minimal();
    const render = renderTrench({
      ...t,
      metadata: { ...t.metadata, uid: 'u1' },
    }) as unknown as KubeObject[];
    const api = releaseDeployments(render).api!;
    const j = migrationJob({
      trench: 'demo',
      namespace: 'shop',
      revision: 'r2',
      api,
      command: ['node', 'migrate.js'],
    }) as KubeObject & {
      spec: {
        backoffLimit: number;
        template: {
          metadata: { labels: Record<string, string> };
          spec: { containers: Record<string, unknown>[]; restartPolicy: string };
        };
      };
    };
    const c = j.spec.template.spec.containers[0]!;
    const apiC = (api.spec.template.spec as { containers: Record<string, unknown>[] })
      .containers[0]!;
    expect(j.metadata?.name).toBe('demo-migrate-r2');
    expect(c.image).toBe(apiC.image);
    expect(c.env).toEqual(apiC.env);
    expect(c.command).toEqual(['node', 'migrate.js']);
    expect(c.readinessProbe).toBeUndefined();
    expect(c.ports).toBeUndefined();
    expect(j.spec.backoffLimit).toBe(0);
    expect(j.spec.template.spec.restartPolicy).toBe('Never');
    // Its own component: the NetworkPolicies let it reach the database, the API Service never selects it.
    expect(j.spec.template.metadata.labels['app.kubernetes.io/component']).toBe('migration');
    expect(j.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'Trench', uid: 'u1' });
  });
});

describe('decideCanary with a migration', () => {
  const input = (over: Partial<CanaryInput>): CanaryInput => ({
    steps: [{ setWeight: 50 }, { pause: {} }],
    desiredRevision: 'r2',
    state: { phase: 'Stable', stableRevision: 'r1' },
    canaryReady: true,
    stableAtCanary: false,
    failureLimit: 1,
    progressDeadlineSeconds: 600,
    now: T0,
    ...over,
  });

  it('runs no canary pod until the migration is done, then the steps', () => {
    const waiting = decideCanary(
      input({
        migration: { state: 'running', message: 'Migration Job shop-migrate-r2 is running' },
      }),
    );
    expect(waiting.canary).toBeUndefined();
    expect(waiting.weight).toBe(0);
    expect(waiting.stable).toBe('r1');
    expect(waiting.state).toMatchObject({
      phase: 'Progressing',
      reason: 'Migrating',
      canaryRevision: 'r2',
    });
    const done = decideCanary(
      input({ state: waiting.state, migration: { state: 'done', message: 'ok' }, now: T0 + 5000 }),
    );
    expect(done).toMatchObject({ canary: 'r2', weight: 50 });
  });

  it('aborts on a failed migration and stays aborted; a retry meets the same failure', () => {
    const failed = {
      state: 'failed',
      reason: 'MigrationFailed',
      message: 'Migration Job x failed',
    } as const;
    const aborted = decideCanary(input({ migration: failed }));
    expect(aborted.state).toMatchObject({ phase: 'Aborted', reason: 'MigrationFailed' });
    expect(aborted.state.message).toBe('Migration Job x failed; stable r1 serves everything');
    expect(aborted.canary).toBeUndefined();
    const still = decideCanary(input({ state: aborted.state, migration: failed }));
    expect(still.state.phase).toBe('Aborted');
    const retried = decideCanary(
      input({ state: aborted.state, migration: failed, request: { id: 'x', action: 'retry' } }),
    );
    expect(retried.state).toMatchObject({
      phase: 'Aborted',
      reason: 'MigrationFailed',
      lastRequest: 'x',
    });
  });

  it('refuses promote while migrating; abort stops the rollout', () => {
    const running = { state: 'running', message: 'm' } as const;
    const promote = decideCanary(
      input({ migration: running, request: { id: 'p', action: 'promote' } }),
    );
    expect(promote.refusal).toContain('the migration of r2 runs first');
    const abort = decideCanary(
      input({ migration: running, request: { id: 'a', action: 'abort' } }),
    );
    expect(abort.state).toMatchObject({ phase: 'Aborted', reason: 'AbortedByUser' });
  });

  it('migrates before a plain rolling update too (no steps), then rolls stable', () => {
    const running = decideCanary(
      input({ steps: [], migration: { state: 'running', message: 'm' } }),
    );
    expect(running.stable).toBe('r1');
    const done = decideCanary(
      input({ steps: [], state: running.state, migration: { state: 'done', message: 'ok' } }),
    );
    expect(done.stable).toBe('r2');
    expect(done.state.phase).toBe('Promoting');
    expect(done.weight).toBe(0);
  });
});
