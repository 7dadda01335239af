// The pinned versions of the local control plane. The Go wrapper modules under hack/go are
// the single source of truth for Kubernetes and etcd; kwok is installed with `go install`
// at the version below.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const KWOK_MODULE = 'sigs.k8s.io/kwok';
export const KWOK_VERSION = 'v0.7.0';

/**
 * The Prometheus Operator whose CRDs the tests validate our ServiceMonitor, PodMonitor,
 * PrometheusRule and AlertmanagerConfig objects against; its Go module carries them in
 * example/prometheus-operator-crd/, so the Go module proxy serves them.
 */
export const PROMETHEUS_OPERATOR_MODULE = 'github.com/prometheus-operator/prometheus-operator';
export const PROMETHEUS_OPERATOR_VERSION = 'v0.77.1';

export const GO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'go');

export interface Versions {
  readonly kubernetes: string;
  readonly etcd: string;
  readonly kwok: string;
  /** The newest `go` directive among the wrapper modules: the oldest Go that builds them. */
  readonly minimumGo: string;
  /** Changes whenever a wrapper go.mod or go.sum changes, so the binary cache is rebuilt. */
  readonly fingerprint: string;
}

/** Returns the version that go.mod `text` requires for `module`, or throws naming the file. */
export function requiredVersion(text: string, module: string, file: string): string {
  const escaped = module.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const match = new RegExp(`^\\s*(?:require\\s+)?${escaped}\\s+(v\\S+)`, 'm').exec(text);
  if (!match?.[1]) throw new Error(`${file}: no requirement on ${module}`);
  return match[1];
}

/** Returns the `go` directive of a go.mod, e.g. "1.24.0", or throws naming the file. */
export function goDirective(text: string, file: string): string {
  const match = /^go\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(text);
  if (!match?.[1]) throw new Error(`${file}: no go directive`);
  return match[1];
}

/** Compares dotted Go versions ("1.24", "1.26.8"); missing parts count as zero. */
export function compareGoVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

export function readVersions(goDir: string = GO_DIR): Versions {
  const files = [
    'kubernetes/go.mod',
    'kubernetes/go.sum',
    'etcd/go.mod',
    'etcd/go.sum',
    'etcd/main.go',
  ];
  const hash = createHash('sha256').update(KWOK_VERSION);
  const text: Record<string, string> = {};
  for (const f of files) {
    text[f] = readFileSync(join(goDir, f), 'utf8');
    hash.update(f).update(text[f]);
  }
  const k8sMod = text['kubernetes/go.mod']!;
  const etcdMod = text['etcd/go.mod']!;
  const goVersions = [
    goDirective(k8sMod, 'hack/go/kubernetes/go.mod'),
    goDirective(etcdMod, 'hack/go/etcd/go.mod'),
  ].sort(compareGoVersions);
  return {
    kubernetes: requiredVersion(k8sMod, 'k8s.io/kubernetes', 'hack/go/kubernetes/go.mod'),
    etcd: requiredVersion(etcdMod, 'go.etcd.io/etcd/server/v3', 'hack/go/etcd/go.mod'),
    kwok: KWOK_VERSION,
    minimumGo: goVersions[goVersions.length - 1]!,
    fingerprint: hash.digest('hex').slice(0, 12),
  };
}
