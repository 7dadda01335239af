// Trenches the chart tests render: the samples from manifests/samples plus edge cases.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { Manifest } from '../../../charts/constructs/common.js';
import { parseQuantity } from '../../../charts/lib/quantity.js';
import type { TrenchInput } from '../../../charts/trench-chart.js';

export function sample(file: string): TrenchInput {
  const doc = parse(readFileSync(`manifests/samples/${file}`, 'utf8'));
  return {
    metadata: { ...doc.metadata, uid: '00000000-0000-4000-8000-000000000001' },
    spec: doc.spec,
  };
}

export const minimal = (): TrenchInput => sample('trench-minimal.yaml');
export const full = (): TrenchInput => sample('trench-full.yaml');

/** Every pod template (Deployment, StatefulSet) with where it came from. */
export function podTemplates(objects: Manifest[]): { where: string; spec: Manifest['spec'] }[] {
  return objects
    .filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet')
    .map((o) => ({ where: `${o.kind}/${o.metadata.name}`, spec: o.spec.template.spec }));
}

/**
 * Names of containers (init containers too) whose ephemeral-storage request or limit is
 * missing, or whose request exceeds the limit.
 */
export function withoutEphemeralStorage(objects: Manifest[]): string[] {
  const bad: string[] = [];
  for (const { where, spec } of podTemplates(objects)) {
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const request = parseQuantity(c.resources?.requests?.['ephemeral-storage'] ?? '');
      const limit = parseQuantity(c.resources?.limits?.['ephemeral-storage'] ?? '');
      if (request === undefined || limit === undefined || request > limit) {
        bad.push(`${where}/${c.name}`);
      }
    }
  }
  return bad;
}

export function labelsMatch(selector: Record<string, string>, labels: Record<string, string>) {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** A pod as NetworkPolicies see it, or `outside`: an address no selector can name. */
export type Endpoint = { namespace: string; labels: Record<string, string> } | 'outside';

interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}
interface PolicyPeer {
  podSelector?: Selector;
  namespaceSelector?: Selector;
  ipBlock?: unknown;
}
interface PolicyRule {
  from?: PolicyPeer[];
  to?: PolicyPeer[];
  ports?: { port?: number; protocol?: string }[];
}

function selects(selector: Selector, labels: Record<string, string>): boolean {
  if (!labelsMatch(selector.matchLabels ?? {}, labels)) return false;
  return (selector.matchExpressions ?? []).every((e) => {
    const v = labels[e.key];
    if (e.operator === 'In') return v !== undefined && (e.values ?? []).includes(v);
    if (e.operator === 'NotIn') return v === undefined || !(e.values ?? []).includes(v);
    if (e.operator === 'Exists') return v !== undefined;
    if (e.operator === 'DoesNotExist') return v === undefined;
    throw new Error(`operator ${e.operator}`);
  });
}

function peerMatches(peer: PolicyPeer, policyNamespace: string, other: Endpoint): boolean {
  if (other === 'outside') return peer.ipBlock !== undefined;
  if (peer.ipBlock !== undefined) return false; // pod IPs are not in the blocks used here
  const nsLabels = { 'kubernetes.io/metadata.name': other.namespace };
  const nsOk = peer.namespaceSelector
    ? selects(peer.namespaceSelector, nsLabels)
    : other.namespace === policyNamespace;
  return nsOk && (peer.podSelector ? selects(peer.podSelector, other.labels) : true);
}

function direction(
  policies: Manifest[],
  type: 'Ingress' | 'Egress',
  self: Endpoint,
  other: Endpoint,
  port: number,
  protocol: string,
): boolean {
  if (self === 'outside') return true;
  const applying = policies.filter(
    (p) =>
      p.kind === 'NetworkPolicy' &&
      p.metadata.namespace === self.namespace &&
      (p.spec.policyTypes as string[]).includes(type) &&
      selects(p.spec.podSelector, self.labels),
  );
  if (applying.length === 0) return true;
  return applying.some((p) =>
    ((type === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? []).some((rule: PolicyRule) => {
      const peers = type === 'Ingress' ? rule.from : rule.to;
      const peerOk =
        !peers ||
        peers.length === 0 ||
        peers.some((x) => peerMatches(x, p.metadata.namespace!, other));
      const portOk =
        !rule.ports ||
        rule.ports.length === 0 ||
        rule.ports.some(
          (r) => (r.protocol ?? 'TCP') === protocol && (r.port === undefined || r.port === port),
        );
      return peerOk && portOk;
    }),
  );
}

/**
 * Whether the NetworkPolicies among `objects` let `from` open a connection to `to` on
 * `port`, by the rules of networking.k8s.io/v1: egress of the source and ingress of the
 * destination must both allow it.
 */
export function connectionAllowed(
  objects: Manifest[],
  from: Endpoint,
  to: Endpoint,
  port: number,
  protocol = 'TCP',
): boolean {
  return (
    direction(objects, 'Egress', from, to, port, protocol) &&
    direction(objects, 'Ingress', to, from, port, protocol)
  );
}

/** The pod of the Deployment or StatefulSet `name` in `namespace`, as an Endpoint. */
export function podOf(objects: Manifest[], namespace: string, name: string): Endpoint {
  const w = objects.find(
    (o) =>
      (o.kind === 'Deployment' || o.kind === 'StatefulSet') &&
      o.metadata.name === name &&
      o.metadata.namespace === namespace,
  );
  if (!w) throw new Error(`no workload ${namespace}/${name}`);
  return { namespace, labels: w.spec.template.metadata.labels };
}
