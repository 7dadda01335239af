// The backup scheduler: for each Trench, a TrenchBackup at each slot of spec.backup.schedule and
// the retention of its backups. The slot and retention decisions are pure (schedule.ts,
// retention.ts); this file reads the caches and writes what they say.
//
// - A slot's TrenchBackup is named from the slot (slotBackupName), so a restarted or doubled
//   operator finds the name taken (409) instead of taking the slot twice.
// - The Trench is requeued at its next slot; between slots a pass reads the cache and writes
//   nothing, so idle Trenches cost no API writes.
// - Retention runs when a backup of the Trench changes (one finishes) and deletes what the
//   policy does not keep; deleting a TrenchBackup removes its file (removal.ts).
// - suspend: true stops both: nothing is scheduled, nothing deleted.
import type { Trench } from '../../charts/api/trench.js';
import { LABEL_INSTANCE } from '../../charts/constructs/common.js';
import type { SharedInformers } from '../runtime/cache.js';
import { isConflict, type KubeClient } from '../runtime/client.js';
import type { ReconcileContext, ReconcileResult } from '../runtime/controller.js';
import { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import type { ControllerSpec } from '../runtime/manager.js';
import { formatTime, type KubeObject, splitKey } from '../runtime/types.js';
import { TRENCH } from '../trench/kinds.js';
import { TRENCH_BACKUP, type TrenchBackupObject } from './controller.js';
import { ANNOTATION_VERIFY, SCHEDULED_DRILL } from './drill-job.js';
import { drillPending } from './drill-progress.js';
import { TRENCH_RESTORE, type TrenchRestoreObject } from './restore.js';
import { isRestoreFinished } from './restore-progress.js';
import { decideRetention, type RetainedBackup } from './retention.js';
import { type BackupSchedule, decideSchedule, slotBackupName } from './schedule.js';

/** On a scheduled TrenchBackup: the slot it was created for (ISO 8601, UTC). */
export const ANNOTATION_SLOT = 'playtrenches.xyz/slot';
/** A pass at least this often even when the next slot is further (timers stay in range). */
const MAX_REQUEUE_MS = 24 * 3600 * 1000;

export interface SchedulerDeps {
  readonly client: KubeClient;
  readonly trenches: Informer<Trench & KubeObject>;
  readonly backups: Informer<TrenchBackupObject>;
  /** Retention keeps a backup an unfinished restore reads. */
  readonly restores?: Informer<TrenchRestoreObject>;
  readonly events: EventRecorder;
  readonly log: Logger;
  readonly now?: () => number;
}

/** The Trench's backups from the cache. */
function backupsOf(deps: SchedulerDeps, ns: string, trench: string): TrenchBackupObject[] {
  return deps.backups
    .list()
    .filter((b) => b.metadata?.namespace === ns && b.spec.trench === trench);
}

/** The newest slot taken: the status says it, or a backup made for it does (a lost write). */
function lastSlot(trench: Trench & KubeObject, backups: readonly TrenchBackupObject[]) {
  const times = backups
    .map((b) => b.metadata?.annotations?.[ANNOTATION_SLOT])
    .concat(trench.status?.backup?.lastScheduleTime)
    .map((t) => (t ? Date.parse(t) : Number.NaN))
    .filter((t) => !Number.isNaN(t));
  return times.length > 0 ? new Date(Math.max(...times)) : undefined;
}

export async function reconcileSchedule(
  deps: SchedulerDeps,
  key: string,
  ctx: ReconcileContext,
): Promise<ReconcileResult | undefined> {
  const { namespace, name } = splitKey(key);
  const ns = namespace ?? '';
  const trench = deps.trenches.get(name, ns);
  if (!trench || trench.metadata?.deletionTimestamp) return undefined;
  const spec = trench.spec.backup;
  if (!spec) return undefined;
  const now = new Date((deps.now ?? Date.now)());
  const backups = backupsOf(deps, ns, name);
  const schedule: BackupSchedule = {
    schedule: spec.schedule,
    ...(spec.timeZone ? { timeZone: spec.timeZone } : {}),
    suspend: spec.suspend,
    startingDeadlineSeconds: spec.startingDeadlineSeconds,
  };
  const last = lastSlot(trench, backups);
  let decision: ReturnType<typeof decideSchedule>;
  try {
    decision = decideSchedule(
      schedule,
      {
        ...(last ? { lastScheduleTime: last } : {}),
        since: new Date(trench.metadata?.creationTimestamp ?? now.toISOString()),
      },
      now,
    );
  } catch (error) {
    // A time zone the CRD's pattern admits but the IANA database does not have.
    const note = (error as Error).message;
    void deps.events.warning(trench, 'InvalidBackupSchedule', 'Schedule', note, ctx.signal);
    deps.log.warn('Cannot schedule backups', { trench: key, error: note });
    return undefined;
  }
  if (decision.take) {
    await createSlotBackup(deps, trench, decision.take, ctx.signal);
  }
  if (decision.skipped > 0 || decision.tooLate) {
    const note = decision.tooLate
      ? `The backup slot ${formatTime(decision.tooLate.getTime())} was missed by more than startingDeadlineSeconds (${spec.startingDeadlineSeconds}); it is not taken late` +
        (decision.skipped > 1 ? `, nor ${decision.skipped - 1} older slot(s)` : '')
      : `Took one catch-up backup for the newest missed slot and skipped ${decision.skipped} older one(s)`;
    void deps.events.warning(trench, 'MissedBackupSlots', 'Schedule', note, ctx.signal);
  }
  const taken = decision.take ?? decision.tooLate ?? last;
  const drill = await scheduleDrill(deps, trench, backups, now, ctx.signal);
  const desired = {
    lastScheduleTime: taken ? formatTime(taken.getTime()) : undefined,
    nextScheduleTime: decision.next ? formatTime(decision.next.getTime()) : undefined,
    lastVerifyScheduleTime: drill.last ? formatTime(drill.last.getTime()) : undefined,
    nextVerifyTime: drill.next ? formatTime(drill.next.getTime()) : undefined,
  };
  const known: Record<string, unknown> = trench.status?.backup ?? {};
  const changed = Object.entries(desired).filter(([k, v]) => known[k] !== v);
  if (changed.length > 0) {
    await deps.client.mergePatch(
      { ...TRENCH, namespace: ns, name },
      { status: { backup: Object.fromEntries(changed.map(([k, v]) => [k, v ?? null])) } },
      { subresource: 'status', signal: ctx.signal },
    );
  }
  if (!spec.suspend) await applyRetention(deps, trench, backups, ctx.signal);
  const wakes = [decision.next, drill.next].filter((d): d is Date => d !== undefined);
  if (wakes.length === 0) return undefined;
  const wait = Math.min(...wakes.map((d) => d.getTime())) - now.getTime();
  return { requeueAfterMs: Math.min(Math.max(wait, 0), MAX_REQUEUE_MS) };
}

/** The newest drill slot taken: status says it, or a backup's request for it does. */
function lastDrillSlot(trench: Trench & KubeObject, backups: readonly TrenchBackupObject[]) {
  const times = backups
    .map((b) => b.metadata?.annotations?.[ANNOTATION_VERIFY])
    .filter((r): r is string => r?.startsWith(SCHEDULED_DRILL) === true)
    .map((r) => r.slice(SCHEDULED_DRILL.length))
    .concat(trench.status?.backup?.lastVerifyScheduleTime ?? [])
    .map((t) => Date.parse(t))
    .filter((t) => !Number.isNaN(t));
  return times.length > 0 ? new Date(Math.max(...times)) : undefined;
}

/**
 * At each slot of spec.backup.verify, a restore drill of the newest completed backup: its
 * playtrenches.xyz/verify annotation is set to `scheduled/<slot>`, and the backup controller
 * runs the drill (drill-progress.ts). A slot with no completed backup says so in an event.
 */
async function scheduleDrill(
  deps: SchedulerDeps,
  trench: Trench & KubeObject,
  backups: readonly TrenchBackupObject[],
  now: Date,
  signal: AbortSignal,
): Promise<{ last?: Date; next?: Date }> {
  const spec = trench.spec.backup;
  const verify = spec?.verify;
  if (!spec || !verify) return {};
  const last = lastDrillSlot(trench, backups);
  // Suspended: no next slot, and the last one taken stays on record.
  if (verify.suspend) return last ? { last } : {};
  let decision: ReturnType<typeof decideSchedule>;
  try {
    decision = decideSchedule(
      {
        schedule: verify.schedule,
        ...(spec.timeZone ? { timeZone: spec.timeZone } : {}),
        startingDeadlineSeconds: spec.startingDeadlineSeconds,
        field: 'spec.backup.verify.schedule',
      },
      {
        ...(last ? { lastScheduleTime: last } : {}),
        since: new Date(trench.metadata?.creationTimestamp ?? now.toISOString()),
      },
      now,
    );
  } catch (error) {
    const note = (error as Error).message;
    void deps.events.warning(trench, 'InvalidVerifySchedule', 'Schedule', note, signal);
    return {};
  }
  const taken = decision.take ?? decision.tooLate ?? last;
  if (decision.take) {
    const slot = decision.take;
    const newest = newestCompletedBackup(backups);
    if (newest) {
      await requestDrill(
        deps.client,
        newest,
        `${SCHEDULED_DRILL}${formatTime(slot.getTime())}`,
        signal,
      );
      deps.log.info('Requested restore drill of TrenchBackup', {
        trench: `${trench.metadata?.namespace}/${trench.metadata?.name}`,
        backup: newest.metadata?.name,
      });
    } else {
      void deps.events.warning(
        trench,
        'NoBackupToVerify',
        'Verify',
        `The restore drill of ${formatTime(slot.getTime())} found no completed TrenchBackup to restore`,
        signal,
      );
    }
  }
  return { ...(taken ? { last: taken } : {}), ...(decision.next ? { next: decision.next } : {}) };
}

/** The newest Completed backup that is not being deleted. */
function newestCompletedBackup(
  backups: readonly TrenchBackupObject[],
): TrenchBackupObject | undefined {
  let newest: TrenchBackupObject | undefined;
  for (const b of backups) {
    if (b.metadata?.deletionTimestamp || b.status?.phase !== 'Completed') continue;
    const t = b.status.completionTime ?? '';
    if (!newest || t > (newest.status?.completionTime ?? '')) newest = b;
  }
  return newest;
}

/** Sets a backup's drill request; the backup controller answers it. */
async function requestDrill(
  client: KubeClient,
  backup: TrenchBackupObject,
  request: string,
  signal?: AbortSignal,
): Promise<void> {
  if (backup.metadata?.annotations?.[ANNOTATION_VERIFY] === request) return;
  await client.mergePatch(
    {
      ...TRENCH_BACKUP,
      namespace: backup.metadata?.namespace ?? '',
      name: backup.metadata?.name ?? '',
    },
    { metadata: { annotations: { [ANNOTATION_VERIFY]: request } } },
    signal ? { signal } : {},
  );
}

async function createSlotBackup(
  deps: SchedulerDeps,
  trench: Trench & KubeObject,
  slot: Date,
  signal: AbortSignal,
): Promise<void> {
  const ns = trench.metadata?.namespace ?? '';
  const name = slotBackupName(trench.metadata?.name ?? '', slot);
  const backup = {
    ...TRENCH_BACKUP,
    metadata: {
      name,
      namespace: ns,
      labels: { [LABEL_INSTANCE]: trench.metadata?.name ?? '' },
      annotations: { [ANNOTATION_SLOT]: formatTime(slot.getTime()) },
    },
    spec: { trench: trench.metadata?.name ?? '', reason: 'scheduled' },
  };
  try {
    await deps.client.create(backup as unknown as KubeObject, { signal });
    deps.log.info('Scheduled a backup', { trench: `${ns}/${trench.metadata?.name}`, backup: name });
  } catch (error) {
    // Another operator (or this one, before a lost status write) took the slot already.
    if (!isConflict(error)) throw error;
  }
}

/** Deletes the backups the policy does not keep (their files follow, through the finalizer). */
async function applyRetention(
  deps: SchedulerDeps,
  trench: Trench & KubeObject,
  backups: readonly TrenchBackupObject[],
  signal: AbortSignal,
): Promise<void> {
  const spec = trench.spec.backup;
  if (!spec) return;
  const live = backups.filter((b) => !b.metadata?.deletionTimestamp);
  const ns = trench.metadata?.namespace ?? '';
  const inUse = new Set(
    (deps.restores?.list() ?? [])
      .filter((r) => r.metadata?.namespace === ns && !isRestoreFinished(r.status?.phase))
      .map((r) => r.spec.backup),
  );
  const view: RetainedBackup[] = live.map((b) => ({
    name: b.metadata?.name ?? '',
    phase: b.status?.phase,
    time: new Date(
      b.status?.completionTime ?? b.metadata?.creationTimestamp ?? new Date(0).toISOString(),
    ),
    manual: b.spec.reason === 'manual',
    preMigration: b.spec.reason === 'pre-migration',
    inUse:
      inUse.has(b.metadata?.name ?? '') ||
      drillPending(b.metadata?.annotations?.[ANNOTATION_VERIFY], b.status),
  }));
  const decision = decideRetention(view, spec.retention, spec.timeZone ?? 'UTC');
  for (const name of decision.remove) {
    const b = live.find((x) => x.metadata?.name === name);
    await deps.client.delete(
      { ...TRENCH_BACKUP, namespace: ns, name },
      { ...(b?.metadata?.uid ? { uid: b.metadata.uid } : {}), signal },
    );
    deps.log.info('Retention deleted a backup', {
      trench: `${ns}/${trench.metadata?.name}`,
      backup: name,
    });
    void deps.events.normal(
      trench,
      'BackupExpired',
      'Retention',
      `Deleted TrenchBackup ${name}: retention (daily ${spec.retention.daily}, weekly ${spec.retention.weekly}, monthly ${spec.retention.monthly}) no longer keeps it`,
      signal,
    );
  }
}

export interface SchedulerOptions {
  readonly client: KubeClient;
  readonly informers: SharedInformers;
  readonly log: Logger;
  readonly now?: () => number;
}

export function backupScheduler(o: SchedulerOptions): {
  spec: ControllerSpec;
  deps: SchedulerDeps;
} {
  const trenches = o.informers.informer<Trench & KubeObject>(TRENCH);
  const backups = o.informers.informer<TrenchBackupObject>(TRENCH_BACKUP);
  const deps: SchedulerDeps = {
    client: o.client,
    trenches,
    backups,
    restores: o.informers.informer<TrenchRestoreObject>(TRENCH_RESTORE),
    events: new EventRecorder({ client: o.client, log: o.log }),
    log: o.log,
    ...(o.now ? { now: o.now } : {}),
  };
  return {
    deps,
    spec: {
      name: 'backup-schedule',
      primary: trenches as unknown as Informer<KubeObject>,
      watches: [
        {
          // A backup that finished (or went) may change what retention keeps.
          informer: backups as unknown as Informer<KubeObject>,
          keys: (obj) => {
            const b = obj as TrenchBackupObject;
            return obj.metadata?.namespace && b.spec?.trench
              ? [`${obj.metadata.namespace}/${b.spec.trench}`]
              : [];
          },
          delayMs: 1000,
        },
      ],
      reconcile: (key, ctx) => reconcileSchedule(deps, key, ctx),
      workers: 2,
    },
  };
}
