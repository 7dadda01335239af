// Builds the Trench controller on the process's shared informers: the Trenches, and one
// informer for each kind in the operator's list (charts/operator-kinds.ts), which the
// TrenchBackup, TrenchRestore and scaling controllers will read from too.
import type { Trench } from '../../charts/api/trench.js';
import { LABEL_COMPONENT, LABEL_INSTANCE } from '../../charts/constructs/common.js';
import { operatorKinds } from '../../charts/operator-kinds.js';
import type { RenderOptions } from '../../charts/trench-chart.js';
import { JOB, TRENCH_BACKUP, type TrenchBackupObject } from '../backup/controller.js';
import { TRENCH_RESTORE, type TrenchRestoreObject } from '../backup/restore.js';
import type { SharedInformers } from '../runtime/cache.js';
import type { KubeClient } from '../runtime/client.js';
import { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import { byControllerOwner, type ControllerSpec, type WatchSpec } from '../runtime/manager.js';
import type { KubeObject } from '../runtime/types.js';
import { OWNED_SELECTOR, TRENCH } from './kinds.js';
import { kindKey, reconcileTrench, type TrenchDeps } from './reconcile.js';

export interface TrenchControllerOptions {
  readonly client: KubeClient;
  readonly informers: SharedInformers;
  readonly log: Logger;
  readonly render?: RenderOptions;
  /** Concurrent reconciles. */
  readonly workers?: number;
  /** Prometheus for canary analysis when a Trench's spec names none. */
  readonly prometheusUrl?: string;
}

export interface TrenchController {
  readonly spec: ControllerSpec;
  readonly deps: TrenchDeps;
}

/**
 * A StatefulSet's data claim has no ownerReference (it must outlive the Trench), so it routes to
 * its Trench by the instance label the claim template gives it.
 */
export function dataClaimKeys(obj: KubeObject): readonly string[] {
  const labels = obj.metadata?.labels ?? {};
  const component = labels[LABEL_COMPONENT];
  const instance = labels[LABEL_INSTANCE];
  const ns = obj.metadata?.namespace;
  // The backups claim has no ownerReference (it outlives the Trench), so it routes here too.
  if (!ns || !instance || !['postgres', 'redis', 'backup'].includes(component ?? '')) return [];
  return [`${ns}/${instance}`];
}

export function trenchController(o: TrenchControllerOptions): TrenchController {
  const trenches = o.informers.informer<Trench & KubeObject>(TRENCH);
  const owned = new Map<string, Informer<KubeObject>>();
  for (const k of operatorKinds(o.render?.prometheusOperator ?? false)) {
    owned.set(kindKey(k), o.informers.informer(k, { labelSelector: OWNED_SELECTOR }));
  }
  const restores = o.informers.informer<TrenchRestoreObject>(TRENCH_RESTORE);
  // The backup controller's informers: the same watches, shared.
  const backups = o.informers.informer<TrenchBackupObject>(TRENCH_BACKUP);
  const jobs = o.informers.informer(JOB, { labelSelector: OWNED_SELECTOR });
  const deps: TrenchDeps = {
    client: o.client,
    trenches,
    owned,
    restores,
    backups,
    jobs,
    events: new EventRecorder({ client: o.client, log: o.log }),
    log: o.log,
    ...(o.render ? { render: o.render } : {}),
    ...(o.prometheusUrl ? { prometheusUrl: o.prometheusUrl } : {}),
  };
  const toOwner = byControllerOwner(TRENCH);
  const watches: WatchSpec[] = [...owned.entries()].map(([key, informer]) => ({
    informer,
    keys:
      key === 'v1/PersistentVolumeClaim'
        ? (obj: KubeObject) => [...new Set([...toOwner(obj), ...dataClaimKeys(obj)])]
        : toOwner,
    // A second: children's status bursts become one reconcile and one status write, and a
    // child deleted or edited by hand is still put back within about a second.
    delayMs: 1000,
  }));
  // A restore starting to hold the Trench, or letting go of it.
  watches.push({
    informer: restores as unknown as Informer<KubeObject>,
    keys: (obj) => {
      const trench = (obj as TrenchRestoreObject).spec?.trench;
      return trench && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${trench}`] : [];
    },
  });
  // A release's migration Job (the Trench's child) and its pre-migration backup.
  watches.push({ informer: jobs, keys: toOwner });
  watches.push({
    informer: backups as unknown as Informer<KubeObject>,
    keys: (obj) => {
      const b = obj as TrenchBackupObject;
      return b.spec?.reason === 'pre-migration' && b.spec.trench && obj.metadata?.namespace
        ? [`${obj.metadata.namespace}/${b.spec.trench}`]
        : [];
    },
  });
  return {
    deps,
    spec: {
      name: 'trench',
      primary: trenches as unknown as Informer<KubeObject>,
      watches,
      reconcile: (key, ctx) => reconcileTrench(deps, key, ctx),
      ...(o.workers ? { workers: o.workers } : {}),
    },
  };
}
