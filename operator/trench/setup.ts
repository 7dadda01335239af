// Builds the Trench controller: informers for Trenches and every owned kind, and the spec
// the runtime's Manager runs while this process leads.
import type { Trench } from '../../charts/api/trench.js';
import type { RenderOptions } from '../../charts/trench-chart.js';
import type { KubeClient } from '../runtime/client.js';
import { EventRecorder } from '../runtime/events.js';
import { Informer } from '../runtime/informer.js';
import type { Logger } from '../runtime/log.js';
import type { ControllerSpec } from '../runtime/manager.js';
import type { KubeObject } from '../runtime/types.js';
import { OWNED_KINDS, OWNED_SELECTOR, PROMETHEUS_OPERATOR_KINDS, TRENCH } from './kinds.js';
import { kindKey, reconcileTrench, type TrenchDeps } from './reconcile.js';

export interface TrenchControllerOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly render?: RenderOptions;
  /** Watch one namespace only. Default: all. */
  readonly namespace?: string;
  /** Concurrent reconciles. */
  readonly workers?: number;
}

export interface TrenchController {
  readonly informers: Informer<KubeObject>[];
  readonly spec: ControllerSpec;
  readonly deps: TrenchDeps;
}

export function trenchController(o: TrenchControllerOptions): TrenchController {
  const ns = o.namespace ? { namespace: o.namespace } : {};
  const trenches = new Informer<Trench & KubeObject>({
    client: o.client,
    ...TRENCH,
    ...ns,
    log: o.log,
  });
  const kinds = o.render?.prometheusOperator
    ? [...OWNED_KINDS, ...PROMETHEUS_OPERATOR_KINDS]
    : OWNED_KINDS;
  const owned = new Map<string, Informer<KubeObject>>();
  for (const k of kinds) {
    owned.set(
      kindKey(k),
      new Informer({ client: o.client, ...k, ...ns, labelSelector: OWNED_SELECTOR, log: o.log }),
    );
  }
  const deps: TrenchDeps = {
    client: o.client,
    trenches,
    owned,
    events: new EventRecorder({ client: o.client, log: o.log }),
    log: o.log,
    ...(o.render ? { render: o.render } : {}),
  };
  const primary = trenches as unknown as Informer<KubeObject>;
  return {
    informers: [primary, ...owned.values()],
    deps,
    spec: {
      name: 'trench',
      primary,
      owned: [...owned.values()],
      reconcile: (key, ctx) => reconcileTrench(deps, key, ctx),
      // A second: children's status bursts become one reconcile and one status write, and a
      // child deleted or edited by hand is still put back within about a second.
      ownedEventDelayMs: 1000,
      ...(o.workers ? { workers: o.workers } : {}),
    },
  };
}
