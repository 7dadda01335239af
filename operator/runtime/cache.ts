// One informer per kind for the whole process, shared by every controller that reads it: a
// second controller on Deployments (a scaling loop, a rollout controller) must cost no second
// watch and no second copy of the objects. controller-runtime's cache does the same.
import type { KubeClient } from './client.js';
import { Informer } from './informer.js';
import type { Logger } from './log.js';
import type { KubeObject } from './types.js';

export interface KindRef {
  readonly apiVersion: string;
  readonly kind: string;
}

export interface SharedInformersOptions {
  readonly client: KubeClient;
  readonly log?: Logger;
  /** Watch one namespace only. Default: all. */
  readonly namespace?: string;
}

export class SharedInformers {
  private readonly o: SharedInformersOptions;
  private readonly byKind = new Map<string, { informer: Informer; selector: string }>();

  constructor(options: SharedInformersOptions) {
    this.o = options;
  }

  /**
   * The process's informer of `kind`, made on first use. Asking for one kind with two label
   * selectors is refused: that would be two watches and two caches of one kind.
   */
  informer<T extends KubeObject = KubeObject>(
    kind: KindRef,
    options: { readonly labelSelector?: string } = {},
  ): Informer<T> {
    const key = `${kind.apiVersion}/${kind.kind}`;
    const selector = options.labelSelector ?? '';
    const existing = this.byKind.get(key);
    if (existing) {
      if (existing.selector !== selector) {
        throw new Error(
          `Informer for ${key} already watches with selector ${JSON.stringify(existing.selector)}, asked for ${JSON.stringify(selector)}`,
        );
      }
      return existing.informer as unknown as Informer<T>;
    }
    const informer = new Informer<KubeObject>({
      client: this.o.client,
      apiVersion: kind.apiVersion,
      kind: kind.kind,
      ...(this.o.namespace ? { namespace: this.o.namespace } : {}),
      ...(selector ? { labelSelector: selector } : {}),
      ...(this.o.log ? { log: this.o.log } : {}),
    });
    this.byKind.set(key, { informer, selector });
    return informer as unknown as Informer<T>;
  }

  /** The informer of `kind` if one was made. */
  find(kind: KindRef): Informer | undefined {
    return this.byKind.get(`${kind.apiVersion}/${kind.kind}`)?.informer;
  }

  /** Every informer made so far: the Manager starts and syncs these. */
  all(): Informer[] {
    return [...this.byKind.values()].map((e) => e.informer);
  }
}
