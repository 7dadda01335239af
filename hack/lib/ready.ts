// Waits until the Trenches `make up` applied from dist/ are Ready, and only those: a cluster may
// hold other Trenches (a user's broken one, one in a namespace being deleted) that are not ours
// to wait for. On timeout it says which of ours is not Ready and why, from its Ready condition.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const TRENCH_GROUP = 'playtrenches.xyz';
const RESOURCE = `trenches.${TRENCH_GROUP}`;

export interface TrenchRef {
  readonly namespace: string;
  readonly name: string;
}

export const refString = (r: TrenchRef) => `${r.namespace}/${r.name}`;

/**
 * The Trenches in YAML texts (file name, text), in file then document order. Pure. A Trench
 * without a namespace is an error naming the file: applied, it would land in whatever namespace
 * the kubeconfig defaults to, and nothing would know where to wait for it.
 */
export function trenchesInManifests(
  files: readonly { readonly file: string; readonly text: string }[],
): TrenchRef[] {
  const out: TrenchRef[] = [];
  for (const { file, text } of files) {
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const m = doc.toJS() as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata?: { name?: unknown; namespace?: unknown };
      } | null;
      if (m?.kind !== 'Trench') continue;
      if (typeof m.apiVersion !== 'string' || !m.apiVersion.startsWith(`${TRENCH_GROUP}/`))
        continue;
      const name = m.metadata?.name;
      const namespace = m.metadata?.namespace;
      if (typeof name !== 'string' || name === '')
        throw new Error(`${file}: a Trench has no metadata.name`);
      if (typeof namespace !== 'string' || namespace === '')
        throw new Error(`${file}: Trench ${JSON.stringify(name)} has no metadata.namespace`);
      out.push({ namespace, name });
    }
  }
  return out;
}

/** The Trenches in the *.yaml files of `dir` (dist/), read in name order as kubectl applies them. */
export function trenchesInDir(dir: string): TrenchRef[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => ({ file: join(dir, f), text: readFileSync(join(dir, f), 'utf8') }));
  return trenchesInManifests(files);
}

interface Condition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
}

/** The parts of a Trench read from the API that readiness depends on. */
export interface TrenchObject {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; generation?: number };
  readonly status?: {
    readonly observedGeneration?: number;
    readonly conditions?: readonly Condition[];
  };
}

export type Readiness = { readonly ready: true } | { readonly ready: false; readonly why: string };

/**
 * Ready means a Ready=True condition written for the Trench's current generation: right after
 * an apply that changed the spec, the Ready of the previous generation still stands until the
 * operator has looked at the new one. Pure.
 */
export function readinessOf(trench: TrenchObject | undefined): Readiness {
  if (!trench) return { ready: false, why: 'not found' };
  const ready = trench.status?.conditions?.find((c) => c.type === 'Ready');
  if (!ready) return { ready: false, why: 'no Ready condition yet (is the operator running?)' };
  if (ready.status !== 'True') {
    const reason = ready.reason ? ` ${ready.reason}` : '';
    const message = ready.message ? `: ${ready.message}` : '';
    return { ready: false, why: `Ready=${ready.status ?? 'Unknown'}${reason}${message}` };
  }
  const generation = trench.metadata?.generation;
  const observed = trench.status?.observedGeneration;
  if (generation !== undefined && observed !== generation)
    return {
      ready: false,
      why: `status is of generation ${observed ?? 'none'}, the spec is at generation ${generation}`,
    };
  return { ready: true };
}

/** "Trench ns/name is not Ready: why" lines, one per Trench that is not Ready. Pure. */
export function notReadyReport(
  states: readonly { readonly ref: TrenchRef; readonly readiness: Readiness }[],
): string {
  return states
    .flatMap(({ ref, readiness }) =>
      readiness.ready ? [] : [`Trench ${refString(ref)} is not Ready: ${readiness.why}`],
    )
    .join('\n');
}

/** kubectl and the kubeconfig to run it with. */
export interface KubectlTarget {
  readonly kubectl: string;
  readonly kubeconfig: string;
}

/** Reads the given Trenches from the API server: one list per namespace. */
export async function readTrenches(
  target: KubectlTarget,
  refs: readonly TrenchRef[],
): Promise<{ ref: TrenchRef; readiness: Readiness }[]> {
  const byNamespace = new Map<string, Map<string, TrenchObject>>();
  for (const namespace of new Set(refs.map((r) => r.namespace))) {
    const args = [
      '--kubeconfig',
      target.kubeconfig,
      'get',
      RESOURCE,
      '-n',
      namespace,
      '-o',
      'json',
    ];
    let stdout: string;
    try {
      ({ stdout } = await run(target.kubectl, args, { maxBuffer: 64 << 20 }));
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`);
    }
    const list = JSON.parse(stdout) as { items?: TrenchObject[] };
    byNamespace.set(
      namespace,
      new Map((list.items ?? []).map((t) => [t.metadata?.name ?? '', t] as const)),
    );
  }
  return refs.map((ref) => ({
    ref,
    readiness: readinessOf(byNamespace.get(ref.namespace)?.get(ref.name)),
  }));
}

export interface WaitOptions {
  /** Default 180 s. */
  readonly timeoutMs?: number;
  /** Default 1 s. */
  readonly intervalMs?: number;
  /** Called with the report whenever the set of Trenches not Ready changes. */
  readonly log?: (line: string) => void;
}

/**
 * Resolves once every Trench in `refs` is Ready (see readinessOf); throws on timeout with
 * notReadyReport's lines, read from the API server at that moment.
 */
export async function waitForTrenches(
  target: KubectlTarget,
  refs: readonly TrenchRef[],
  options: WaitOptions = {},
): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 180_000;
  const intervalMs = options.intervalMs ?? 1000;
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const report = notReadyReport(await readTrenches(target, refs));
    if (report === '') return;
    if (report !== last) options.log?.(report);
    last = report;
    if (Date.now() >= deadline)
      throw new Error(
        `Timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${refs.length} Trench(es) to become Ready:\n${report}`,
      );
    await new Promise((r) =>
      setTimeout(r, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
    );
  }
}
