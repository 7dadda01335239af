// Noticing a data volume replaced by an empty one. Delete the claim data-<trench>-postgres-0 and
// its pod, and the StatefulSet makes a new, empty claim: every workload becomes Ready again on an
// empty database. The only trace is the claim's uid, so the status remembers the uid of the
// claim that held the data, and a different uid under the same name is a lost volume until a
// person says it is not (after restoring a backup, or when the loss was intended).
import type { TrenchStatus } from '../../charts/api/trench.js';
import type { Problem } from './status.js';

export type DataComponent = 'postgres' | 'redis';

/** Acknowledges a replaced claim: its value is the new claim's uid. */
export const acceptVolumeAnnotation = (component: DataComponent) =>
  `playtrenches.xyz/accept-${component}-volume`;

export type VolumeRecord = NonNullable<NonNullable<TrenchStatus['volumes']>['postgres']>;

export interface VolumeInput {
  readonly component: DataComponent;
  readonly trench: { readonly name: string; readonly namespace: string };
  /** The claim's name, data-<statefulset>-0. */
  readonly claim: string;
  /** What the status recorded last pass. */
  readonly recorded: VolumeRecord | undefined;
  /** The claim as the cache holds it now; undefined while there is none. */
  readonly live: { readonly uid: string; readonly deleting: boolean } | undefined;
  /** The Trench's acknowledgement annotation, if any. */
  readonly accepted: string | undefined;
  /** The newest completed TrenchBackup (status.backup), named in the Postgres message. */
  readonly newestBackup?: { readonly name: string; readonly time?: string };
}

export interface VolumeVerdict {
  readonly record: VolumeRecord | undefined;
  readonly problem?: Problem;
  /** True on the pass that first sees this replacement: send the Warning event once. */
  readonly newlyReplaced: boolean;
}

/** Pure: what to record and what is wrong, from the recorded and the live claim. */
export function checkVolume(input: VolumeInput): VolumeVerdict {
  const { component, trench, claim, recorded, live, accepted } = input;
  // The first claim seen is the one that holds the data; a claim being deleted is not a
  // replacement yet (the new one has not been made).
  if (recorded === undefined || recorded.claim !== claim) {
    return {
      record: live && !live.deleting ? { claim, uid: live.uid } : undefined,
      newlyReplaced: false,
    };
  }
  const replacedBy =
    live && !live.deleting && live.uid !== recorded.uid ? live.uid : recorded.replacedBy;
  if (replacedBy === undefined) return { record: recorded, newlyReplaced: false };
  if (accepted === replacedBy && live?.uid === replacedBy) {
    return { record: { claim, uid: replacedBy }, newlyReplaced: false };
  }
  const backup = input.newestBackup;
  const restore = backup
    ? `the database on it is empty. Restore the newest completed backup, ${backup.name}${backup.time ? ` (completed ${backup.time})` : ''}, with: kubectl trench restore ${trench.name} -n ${trench.namespace} --from ${backup.name}`
    : 'the database on it is empty, and this Trench has no completed backup to restore (kubectl trench backups lists what there is)';
  const what =
    component === 'postgres'
      ? restore
      : 'queued and scheduled jobs on it are lost. Re-enqueue what matters';
  const message =
    `PersistentVolumeClaim ${claim} (uid ${recorded.uid}) was replaced by a new claim (uid ${replacedBy}): ${what}, ` +
    `then acknowledge with: kubectl annotate trench ${trench.name} -n ${trench.namespace} ${acceptVolumeAnnotation(component)}=${replacedBy}`;
  return {
    record: { claim, uid: recorded.uid, replacedBy },
    problem: {
      // Postgres is the system of record; Redis holds a rebuildable queue.
      severity: component === 'postgres' ? 'critical' : 'warning',
      reason: component === 'postgres' ? 'PostgresVolumeReplaced' : 'RedisVolumeReplaced',
      message,
    },
    newlyReplaced: recorded.replacedBy !== replacedBy,
  };
}
