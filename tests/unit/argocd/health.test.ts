// The Argo CD health scripts on hand-written objects, run by Debian's Lua 5.1 in Argo CD's
// sandbox (no string or math library): every branch of each script, any shape of object
// without an error, and the argocd-cm patch carrying the committed scripts byte for byte.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  argocdHealthPatch,
  HEALTH_KINDS,
  HEALTH_PATCH_FILE,
  healthKey,
} from '../../../charts/argocd-health.js';
import {
  HEALTH_STATUSES,
  health,
  healthScript,
  runHealthScript,
  runLua,
  toLuaLiteral,
} from '../../support/argocd/health.js';

const script = (kind: (typeof HEALTH_KINDS)[number]) => healthScript(kind);

// Lua 5.1 side of the round trip: any value back as JSON, strings as hex of their bytes (so no
// escaping has to agree) and numbers with 17 digits (enough to read back the same double).
const LUA_TO_JSON = `
local function enc(v)
  local t = type(v)
  if t == "nil" then return "null" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then return string.format("%.17g", v) end
  if t == "string" then
    return '"' .. (v:gsub(".", function(c) return string.format("%02x", c:byte()) end)) .. '"'
  end
  local n, count = #v, 0
  for _ in pairs(v) do count = count + 1 end
  local parts = {}
  if n > 0 and n == count then
    for i = 1, n do parts[i] = enc(v[i]) end
    return "[" .. table.concat(parts, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do parts[i] = enc(k) .. ":" .. enc(v[k]) end
  return "{" .. table.concat(parts, ",") .. "}"
end
`;

/** What the Lua side prints for `value`, as JS: strings hex-encoded, {} for an empty array. */
function expectedFromLua(value: unknown): unknown {
  if (typeof value === 'string') return Buffer.from(value, 'utf8').toString('hex');
  if (Array.isArray(value)) return value.length === 0 ? {} : value.map(expectedFromLua);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v !== null) out[Buffer.from(k, 'utf8').toString('hex')] = expectedFromLua(v);
    }
    return out;
  }
  return value;
}

function throughLua(value: unknown): unknown {
  return JSON.parse(runLua(`${LUA_TO_JSON}\nprint(enc(${toLuaLiteral(value)}))\n`));
}

// JSON as the API server sends it. Arrays hold no nulls: a Lua sequence cannot end in nil
// (Argo CD's decoder has the same hole), and Kubernetes lists never carry them.
const { json } = fc.letrec((tie) => ({
  scalar: fc.oneof(
    fc.boolean(),
    fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ unit: 'binary', maxLength: 12 }),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
  ),
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('scalar'),
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(
      fc.string({ unit: 'binary', maxLength: 8 }),
      fc.oneof(tie('json'), fc.constant(null)),
      { maxKeys: 4 },
    ),
  ),
}));

describe('toLuaLiteral', () => {
  it('writes Kubernetes keys, escapes and nesting as Lua reads them', () => {
    const value = {
      metadata: { labels: { 'app.kubernetes.io/name': 'shop' }, generation: 3 },
      quote: 'say "hi" \\ back',
      lines: 'a\nb\r\tc',
      control: '\u0001' + '2\u0000' + '9',
      unicode: 'Grüße ✓ 🚀',
      list: [1, -2.5, 1e21, true, false, 'x', [], {}],
      gone: null,
    };
    expect(throughLua(value)).toEqual(expectedFromLua(value));
    expect(runLua(`local o = ${toLuaLiteral(value)}\nprint(#o.control, #o.list, o.gone)\n`)).toBe(
      '4\t8\tnil\n',
    );
  });

  it('round-trips any JSON value through Lua 5.1', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(throughLua(value)).toEqual(expectedFromLua(JSON.parse(JSON.stringify(value))));
      }),
      { numRuns: 150 },
    );
  });

  it('refuses what JSON cannot hold', () => {
    expect(() => toLuaLiteral(Number.NaN)).toThrow(/NaN/);
    expect(() => toLuaLiteral({ f: () => 1 })).toThrow(/function/);
  });
});

describe('the runner', () => {
  const dir = mkdtempSync(join(tmpdir(), 'trench-lua-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it("gives scripts only Argo CD's libraries, so string.format fails as it would there", () => {
    const lib = write('lib.lua', 'return {status = string.format("%s", "Healthy")}\n');
    expect(() => runHealthScript(lib, {})).toThrow(/global 'string'/);
    const method = write('method.lua', 'return {status = ("Healthy"):lower()}\n');
    expect(() => runHealthScript(method, {})).toThrow(/index a string value/);
    const math = write('math.lua', 'return {status = tostring(math.floor(1))}\n');
    expect(() => runHealthScript(math, {})).toThrow(/global 'math'/);
  });

  it('refuses a script that returns no table, as Argo CD does', () => {
    expect(() => runHealthScript(write('none.lua', 'local hs = {}\n'), {})).toThrow(
      /expected table output/,
    );
    expect(() => runHealthScript(write('bad.lua', 'return {\n'), {})).toThrow(/exited 2/);
  });

  it('hands the script `obj` and prints status and message', () => {
    const echo = write('echo.lua', 'return {status = "Healthy", message = obj.a.b}\n');
    expect(runHealthScript(echo, { a: { b: 'x\ty\nz' } })).toEqual({
      status: 'Healthy',
      message: 'x\ty\nz',
    });
  });
});

const ready = (status: string, reason: string, message: string) => ({
  type: 'Ready',
  status,
  reason,
  message,
});
const trench = (generation: number | undefined, status?: Record<string, unknown>) => ({
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  metadata: {
    name: 'shop',
    namespace: 'prod',
    ...(generation === undefined ? {} : { generation }),
  },
  spec: { api: { image: 'a' }, worker: { image: 'w' }, backup: { suspend: false } },
  ...(status === undefined ? {} : { status }),
});
const healthy = {
  observedGeneration: 4,
  phase: 'Ready',
  conditions: [
    ready('True', 'AllWorkloadsReady', '5 workloads ready'),
    { type: 'Progressing', status: 'False', reason: 'Converged', message: 'Every workload' },
    { type: 'Degraded', status: 'False', reason: 'AsExpected', message: 'Every child' },
  ],
};
const at = (phase: string, r: ReturnType<typeof ready>, extra: Record<string, unknown> = {}) =>
  trench(4, { observedGeneration: 4, phase, conditions: [r], ...extra });

describe('Trench health', () => {
  const cases: [string, unknown, string, string][] = [
    ['no status yet', trench(1), 'Progressing', 'Waiting for the operator to observe generation 1'],
    [
      'no generation and no status',
      trench(undefined),
      'Progressing',
      'Waiting for the operator to observe the Trench',
    ],
    [
      'a status without observedGeneration',
      trench(2, { phase: 'Ready', conditions: healthy.conditions }),
      'Progressing',
      'Waiting for the operator to observe generation 2',
    ],
    [
      'a Ready status of an older generation',
      trench(5, healthy),
      'Progressing',
      'Waiting for the operator to observe generation 5 (status is of generation 4)',
    ],
    [
      'generations as numeric strings (how Argo CD passes a json.Number)',
      { ...trench(4, { ...healthy, observedGeneration: '4' }), metadata: { generation: '4' } },
      'Healthy',
      'Ready (AllWorkloadsReady): 5 workloads ready',
    ],
    [
      'an observedGeneration that is no number at all',
      trench(4, { ...healthy, observedGeneration: 'four' }),
      'Progressing',
      'Waiting for the operator to observe generation 4',
    ],
    [
      'Ready and Ready=True',
      trench(4, healthy),
      'Healthy',
      'Ready (AllWorkloadsReady): 5 workloads ready',
    ],
    [
      'Ready with a warning',
      trench(4, {
        ...healthy,
        conditions: [
          healthy.conditions[0],
          { type: 'Degraded', status: 'True', reason: 'BackupFailed', message: 'pg_dump failed' },
        ],
      }),
      'Healthy',
      'Ready (AllWorkloadsReady): 5 workloads ready; warning: Degraded (BackupFailed): pg_dump failed',
    ],
    [
      'phase Ready but Ready=False',
      at('Ready', ready('False', 'WorkloadsNotReady', 'x')),
      'Progressing',
      'Phase is Ready but the Ready condition is False',
    ],
    [
      'phase Ready without conditions',
      trench(4, { observedGeneration: 4, phase: 'Ready' }),
      'Progressing',
      'Phase is Ready but the Ready condition is missing',
    ],
    [
      'Progressing',
      at(
        'Progressing',
        ready('False', 'WorkloadsNotReady', 'Deployment shop-api has 0/2 available'),
      ),
      'Progressing',
      'Progressing (WorkloadsNotReady): Deployment shop-api has 0/2 available',
    ],
    [
      'Pending without conditions',
      trench(4, { observedGeneration: 4, phase: 'Pending' }),
      'Progressing',
      'Pending',
    ],
    [
      'Degraded',
      at('Degraded', ready('False', 'ApplyFailed', 'Deployment shop-api: refused')),
      'Degraded',
      'Degraded (ApplyFailed): Deployment shop-api: refused',
    ],
    [
      'Failed',
      at('Failed', ready('False', 'InvalidSpec', 'spec.backup.schedule never fires')),
      'Degraded',
      'Failed (InvalidSpec): spec.backup.schedule never fires',
    ],
    [
      'Failed with a reason and an empty message',
      at('Failed', ready('False', 'InvalidSpec', '')),
      'Degraded',
      'Failed (InvalidSpec)',
    ],
    [
      'a rollout paused for promote',
      trench(4, {
        ...healthy,
        rollout: {
          phase: 'Paused',
          stepIndex: 2,
          step: '3/4',
          weight: 20,
          achievedWeight: 25,
          message: 'Step 3 of 4: waiting for promote',
        },
      }),
      'Suspended',
      'Rollout paused at step 3/4 (canary 25% of API pods): Step 3 of 4: waiting for promote',
    ],
    [
      'a paused rollout with nothing else in it',
      trench(4, { ...healthy, rollout: { phase: 'Paused' } }),
      'Suspended',
      'Rollout paused',
    ],
    [
      'an aborted rollout on a Trench still Ready (stable serves everything)',
      trench(4, {
        ...healthy,
        rollout: {
          phase: 'Aborted',
          reason: 'AnalysisFailed',
          message: 'Canary abc failed analysis 1 time(s) in a row',
        },
      }),
      'Degraded',
      'Rollout aborted (AnalysisFailed): Canary abc failed analysis 1 time(s) in a row',
    ],
    [
      'a paused rollout on a Degraded Trench',
      at('Degraded', ready('False', 'ApplyFailed', 'refused'), { rollout: { phase: 'Paused' } }),
      'Degraded',
      'Degraded (ApplyFailed): refused',
    ],
    [
      'a rollout progressing',
      trench(4, { ...healthy, rollout: { phase: 'Progressing', stepIndex: 0, weight: 20 } }),
      'Healthy',
      'Ready (AllWorkloadsReady): 5 workloads ready',
    ],
    [
      'suspended backups',
      { ...trench(4, healthy), spec: { backup: { suspend: true } } },
      'Healthy',
      'Ready (AllWorkloadsReady): 5 workloads ready',
    ],
    [
      'an unknown phase',
      at('Exploding', ready('False', 'Boom', 'it is on fire')),
      'Progressing',
      'Unknown phase Exploding (Boom): it is on fire',
    ],
    [
      'no phase',
      trench(4, { observedGeneration: 4 }),
      'Progressing',
      'Waiting for the operator to set a phase',
    ],
    [
      'conditions of the wrong shape',
      trench(4, { observedGeneration: 4, phase: 'Ready', conditions: ['Ready', 7, { type: 3 }] }),
      'Progressing',
      'Phase is Ready but the Ready condition is missing',
    ],
    [
      'a status that is not an object',
      trench(4, 'Ready' as unknown as Record<string, unknown>),
      'Progressing',
      'Waiting for the operator to observe generation 4',
    ],
  ];
  it.each(cases)('%s', (_, obj, status, message) => {
    expect(health('Trench', obj)).toEqual({ status, message });
  });
});

const run = (kind: string, status?: Record<string, unknown>, generation = 1) => ({
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind,
  metadata: { name: 'shop-202611220300', namespace: 'prod', generation },
  spec:
    kind === 'TrenchBackup'
      ? { trench: 'shop', reason: 'scheduled' }
      : { trench: 'shop', backup: 'shop-202611220300' },
  ...(status === undefined ? {} : { status }),
});

describe('TrenchBackup health', () => {
  const cases: [string, unknown, string, string][] = [
    [
      'no status',
      run('TrenchBackup'),
      'Progressing',
      'Waiting for the operator to start the backup',
    ],
    [
      'a status without a phase',
      run('TrenchBackup', { message: 'x' }),
      'Progressing',
      'Waiting for the operator to start the backup',
    ],
    ['Pending', run('TrenchBackup', { phase: 'Pending' }), 'Progressing', 'Backup Pending'],
    [
      'Running',
      run('TrenchBackup', { phase: 'Running', message: 'Job shop-202611220300 started' }),
      'Progressing',
      'Backup Running: Job shop-202611220300 started',
    ],
    [
      'Completed with a path and size',
      run('TrenchBackup', {
        phase: 'Completed',
        path: 'shop/shop-202611220300.dump',
        sizeBytes: 10737418240,
      }),
      'Healthy',
      'Backup completed: shop/shop-202611220300.dump (10737418240 bytes)',
    ],
    ['Completed', run('TrenchBackup', { phase: 'Completed' }), 'Healthy', 'Backup completed'],
    [
      'Succeeded, the old name',
      run('TrenchBackup', { phase: 'Succeeded' }),
      'Healthy',
      'Backup completed',
    ],
    [
      'Failed',
      run('TrenchBackup', { phase: 'Failed', message: 'pg_dump: connection refused' }),
      'Degraded',
      'Backup failed: pg_dump: connection refused',
    ],
    [
      'Failed without a message',
      run('TrenchBackup', { phase: 'Failed', message: '' }),
      'Degraded',
      'Backup failed: no message in status',
    ],
    [
      'a status of an older generation',
      run('TrenchBackup', { phase: 'Completed', observedGeneration: 1 }, 2),
      'Progressing',
      'Waiting for the operator to observe generation 2',
    ],
    [
      'an older generation as a numeric string',
      run('TrenchBackup', { phase: 'Completed', observedGeneration: '1' }, 2),
      'Progressing',
      'Waiting for the operator to observe generation 2',
    ],
    [
      'an unknown phase',
      run('TrenchBackup', { phase: 'Verifying', message: 'checksum' }),
      'Progressing',
      'Unknown backup phase Verifying: checksum',
    ],
  ];
  it.each(cases)('%s', (_, obj, status, message) => {
    expect(health('TrenchBackup', obj)).toEqual({ status, message });
  });
});

describe('TrenchRestore health', () => {
  const from = 'from shop-202611220300';
  const cases: [string, unknown, string, string][] = [
    [
      'no status',
      run('TrenchRestore'),
      'Progressing',
      `Waiting for the operator to start the restore ${from}`,
    ],
    [
      'Pending',
      run('TrenchRestore', { phase: 'Pending' }),
      'Progressing',
      `Restore ${from} Pending`,
    ],
    [
      'Verifying',
      run('TrenchRestore', { phase: 'Verifying' }),
      'Progressing',
      `Restore ${from} Verifying`,
    ],
    [
      'a step of the restore',
      run('TrenchRestore', { phase: 'Quiescing', message: 'API 3 -> 0' }),
      'Progressing',
      `Restore ${from} Quiescing: API 3 -> 0`,
    ],
    [
      'Completed',
      run('TrenchRestore', { phase: 'Completed' }),
      'Healthy',
      `Restore ${from} completed`,
    ],
    [
      'Completed with a message',
      run('TrenchRestore', { phase: 'Completed', message: 'resumed 3 API replicas' }),
      'Healthy',
      `Restore ${from} completed: resumed 3 API replicas`,
    ],
    [
      'Failed',
      run('TrenchRestore', { phase: 'Failed', message: 'checksum mismatch' }),
      'Degraded',
      `Restore ${from} failed: checksum mismatch`,
    ],
    [
      'Failed without a backup or message',
      { ...run('TrenchRestore', { phase: 'Failed' }), spec: {} },
      'Degraded',
      'Restore failed: no message in status',
    ],
    [
      'a status of an older generation',
      run('TrenchRestore', { phase: 'Completed', observedGeneration: 1 }, 3),
      'Progressing',
      'Waiting for the operator to observe generation 3',
    ],
    [
      'an unknown phase',
      run('TrenchRestore', { phase: 'Rewinding' }),
      'Progressing',
      'Unknown restore phase Rewinding',
    ],
  ];
  it.each(cases)('%s', (_, obj, status, message) => {
    expect(health('TrenchRestore', obj)).toEqual({ status, message });
  });
});

describe('every script on any object', () => {
  // Fields the scripts read, each given any JSON value (or left out): a script that indexes a
  // nil or concatenates a table raises, and Argo CD then shows an error instead of a health.
  const maybe = fc.option(json, { nil: undefined });
  const anyObject = fc.record(
    {
      metadata: fc.option(fc.record({ generation: maybe }), { nil: undefined }),
      spec: fc.option(fc.record({ backup: maybe, trench: maybe }), { nil: undefined }),
      status: fc.oneof(
        json,
        fc.record(
          {
            observedGeneration: fc.oneof(maybe, fc.integer({ min: 0, max: 5 })),
            phase: fc.oneof(
              maybe,
              fc.constantFrom('Pending', 'Progressing', 'Ready', 'Degraded', 'Failed', 'Running'),
              fc.constantFrom('Succeeded', 'Completed', 'Quiescing'),
            ),
            conditions: fc.oneof(
              maybe,
              fc.array(
                fc.record(
                  {
                    type: fc.oneof(fc.constantFrom('Ready', 'Degraded'), json),
                    status: fc.oneof(fc.constantFrom('True', 'False'), json),
                    reason: maybe,
                    message: maybe,
                  },
                  { requiredKeys: [] },
                ),
                { maxLength: 3 },
              ),
            ),
            rollout: fc.oneof(
              maybe,
              fc.record(
                {
                  phase: fc.oneof(fc.constant('Paused'), json),
                  stepIndex: maybe,
                  weight: maybe,
                  message: maybe,
                },
                { requiredKeys: [] },
              ),
            ),
            message: maybe,
            path: maybe,
            sizeBytes: maybe,
          },
          { requiredKeys: [] },
        ),
      ),
    },
    { requiredKeys: [] },
  );

  it.each(HEALTH_KINDS)('%s: a status Argo CD accepts and a message, never an error', (kind) => {
    fc.assert(
      fc.property(anyObject, (obj) => {
        const h = health(kind, JSON.parse(JSON.stringify(obj)));
        expect(HEALTH_STATUSES).toContain(h.status);
        expect(h.message).not.toBe('');
      }),
      { numRuns: 120 },
    );
  });
});

describe('the argocd-cm patch', () => {
  const scripts = Object.fromEntries(HEALTH_KINDS.map((k) => [k, script(k)])) as Record<
    (typeof HEALTH_KINDS)[number],
    string
  >;

  it('is what make synth writes from the committed scripts (run make synth and commit)', () => {
    expect(readFileSync(HEALTH_PATCH_FILE, 'utf8')).toBe(argocdHealthPatch(scripts));
  });

  it('holds each script byte for byte under the key Argo CD looks up', () => {
    const patch = parse(readFileSync(HEALTH_PATCH_FILE, 'utf8'), { version: '1.1' }) as {
      kind: string;
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    expect(patch.kind).toBe('ConfigMap');
    expect(patch.metadata).toMatchObject({ name: 'argocd-cm', namespace: 'argocd' });
    expect(Object.keys(patch.data)).toEqual([
      'resource.customizations.health.playtrenches.xyz_Trench',
      'resource.customizations.health.playtrenches.xyz_TrenchBackup',
      'resource.customizations.health.playtrenches.xyz_TrenchRestore',
    ]);
    for (const kind of HEALTH_KINDS) expect(patch.data[healthKey(kind)]).toBe(scripts[kind]);
  });

  it('refuses a script a block scalar would not keep as written', () => {
    expect(() => argocdHealthPatch({ ...scripts, Trench: 'return {}' })).toThrow(
      /trench\.lua must use no tabs and end in exactly one newline/,
    );
    expect(() => argocdHealthPatch({ ...scripts, TrenchBackup: '\treturn {}\n' })).toThrow(
      /trenchbackup\.lua/,
    );
  });
});
