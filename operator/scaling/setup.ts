// The scaling controller on the process's shared informers: its primary is the Trench, the
// worker Deployments route to their Trench (a `kubectl scale` is put back at once), and BullMQ's
// events streams wake it between polls.

import type { Trench } from '../../charts/api/trench.js';
import { TRENCH_RESTORE, type TrenchRestoreObject } from '../backup/restore.js';
import type { SharedInformers } from '../runtime/cache.js';
import type { KubeClient } from '../runtime/client.js';
import { EventRecorder } from '../runtime/events.js';
import type { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import { byControllerOwner, type ControllerSpec } from '../runtime/manager.js';
import type { OperatorMetrics } from '../runtime/metrics.js';
import type { KubeObject } from '../runtime/types.js';
import { OWNED_SELECTOR, TRENCH } from '../trench/kinds.js';
import { createScalingMetrics, Scaler } from './scaler.js';

export interface ScalingControllerOptions {
  readonly client: KubeClient;
  readonly informers: SharedInformers;
  readonly log: Logger;
  readonly metrics: OperatorMetrics;
  /** Concurrent checks. Default 8: a check waits on Redis, not on the CPU. */
  readonly workers?: number;
}

export function scalingController(o: ScalingControllerOptions): {
  spec: ControllerSpec;
  scaler: Scaler;
} {
  const trenches = o.informers.informer<Trench & KubeObject>(TRENCH);
  const owned = { labelSelector: OWNED_SELECTOR };
  const deployments = o.informers.informer({ apiVersion: 'apps/v1', kind: 'Deployment' }, owned);
  const secrets = o.informers.informer({ apiVersion: 'v1', kind: 'Secret' }, owned);
  const restores = o.informers.informer<TrenchRestoreObject>(TRENCH_RESTORE);
  const scaler = new Scaler({
    client: o.client,
    trenches,
    deployments,
    secrets,
    restores,
    events: new EventRecorder({ client: o.client, log: o.log }),
    log: o.log,
    metrics: createScalingMetrics(o.metrics.registry),
  });
  const toOwner = byControllerOwner(TRENCH);
  return {
    scaler,
    spec: {
      name: 'scaling',
      primary: trenches as unknown as Informer<KubeObject>,
      watches: [
        {
          informer: deployments,
          keys: (obj) =>
            obj.metadata?.labels?.['app.kubernetes.io/component'] === 'worker' ? toOwner(obj) : [],
        },
        {
          // A restore holding the workers at 0, or giving them back.
          informer: restores as unknown as Informer<KubeObject>,
          keys: (obj) => {
            const trench = (obj as TrenchRestoreObject).spec?.trench;
            return trench && obj.metadata?.namespace ? [`${obj.metadata.namespace}/${trench}`] : [];
          },
        },
      ],
      reconcile: (key, ctx) => scaler.check(key, ctx),
      sources: [scaler.wake.source],
      workers: o.workers ?? 8,
    },
  };
}
