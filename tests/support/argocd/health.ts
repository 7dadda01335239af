// Runs the Argo CD health scripts of manifests/argocd/health/ on Debian's Lua 5.1 (the
// language version of Argo CD's gopher-lua), for unit tests on hand-written objects and
// integration tests on objects the real operator wrote.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  composeHealthScript,
  HEALTH_SCRIPT_DIR,
  type HealthKind,
  healthSources,
} from '../../../charts/argocd-health.js';
import { REPO_ROOT } from '../../../hack/lib/cluster.js';

const RUNNER = join(REPO_ROOT, 'tests', 'support', 'argocd', 'health-runner.lua');
export const LUA = process.env.TRENCH_TEST_LUA ?? 'lua5.1';

/** The statuses Argo CD accepts from a script; any other value it shows as Unknown. */
export const HEALTH_STATUSES = [
  'Healthy',
  'Progressing',
  'Degraded',
  'Suspended',
  'Missing',
] as const;

export interface Health {
  readonly status: string;
  readonly message: string;
}

/**
 * A Lua string literal of `s`. Only quotes, backslashes and control characters are escaped:
 * the source goes to Lua as UTF-8, so other characters arrive as their UTF-8 bytes, which is
 * what Argo CD's Lua strings hold too.
 */
function luaString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    // Three digits always: Lua reads up to three after a backslash, so "\1" followed by "2"
    // would be read as "\12".
    else if (code < 0x20 || code === 0x7f) out += `\\${String(code).padStart(3, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/**
 * A JSON value as a Lua table constructor, the way Argo CD hands an object to a script: objects
 * become tables keyed by string, arrays become sequences from 1, null becomes nil. Lua 5.1 has
 * no JSON library, so the tests translate on this side. Keys are always bracketed, because
 * Kubernetes keys such as `app.kubernetes.io/name` are not Lua names.
 */
export function toLuaLiteral(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`JSON has no ${value}`);
    // JSON's spelling (1e+21, 5e-324) is also a valid Lua numeral.
    return JSON.stringify(value);
  }
  if (typeof value === 'string') return luaString(value);
  if (Array.isArray(value)) return `{${value.map(toLuaLiteral).join(', ')}}`;
  if (typeof value === 'object') {
    const fields = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `[${luaString(k)}] = ${toLuaLiteral(v)}`);
    return `{${fields.join(', ')}}`;
  }
  throw new Error(`Cannot write a ${typeof value} as Lua`);
}

/** Runs Lua source on stdin with lua5.1 and returns its output; throws on a non-zero exit. */
export function runLua(source: string, args: readonly string[] = ['-']): string {
  const r = spawnSync(LUA, args, { input: source, encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw new Error(`Cannot run ${LUA} (make deps installs it): ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${LUA} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Runs the health script at `path` on `obj` as Argo CD would; throws when the script fails. */
export function runHealthScript(path: string, obj: unknown): Health {
  const out = runLua(`obj = ${toLuaLiteral(obj)}\n`, [RUNNER, path]);
  // A message may hold newlines (an API server's error, say): only the first tab splits.
  const text = out.replace(/\n$/, '');
  const tab = text.indexOf('\t');
  if (tab < 0) throw new Error(`Unexpected output from ${path}: ${out}`);
  return { status: text.slice(0, tab), message: text.slice(tab + 1) };
}

/** A kind's script as argocd-cm gets it: the shared files first, from the committed sources. */
export function healthScript(kind: HealthKind): string {
  return composeHealthScript(
    healthSources(kind).map((f) => readFileSync(join(REPO_ROOT, HEALTH_SCRIPT_DIR, f), 'utf8')),
  );
}

const composed = new Map<HealthKind, string>();
/** Where the composed scripts are written: the work tree's ignored state folder, not /tmp. */
const COMPOSED_DIR = join(REPO_ROOT, '.trench', 'argocd-health');

/** The health Argo CD would show for `obj`, from the committed script of `kind`. */
export function health(kind: HealthKind, obj: unknown): Health {
  let path = composed.get(kind);
  if (!path) {
    mkdirSync(COMPOSED_DIR, { recursive: true });
    path = join(COMPOSED_DIR, `${kind.toLowerCase()}.lua`);
    // Test files run in parallel: each writes its own copy and renames it into place, so none
    // reads another's half-written file.
    const part = `${path}.${process.pid}`;
    writeFileSync(part, healthScript(kind));
    renameSync(part, path);
    composed.set(kind, path);
  }
  return runHealthScript(path, obj);
}
