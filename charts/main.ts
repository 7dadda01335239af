// `make synth`: values.yaml -> dist/ and crds/, and the Argo CD health checks of
// manifests/argocd/health/*.lua -> manifests/argocd/argocd-cm-health.yaml. `--check` writes
// nothing and exits 1 when the committed files differ from a fresh synth (CI runs it).
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  argocdHealthPatch,
  composeHealthScript,
  HEALTH_KINDS,
  HEALTH_PATCH_FILE,
  HEALTH_SCRIPT_DIR,
  type HealthKind,
  healthSources,
} from './argocd-health.js';
import { synthesize } from './synth.js';
import { parseValues, ValuesError } from './values.js';

interface Args {
  check: boolean;
  values: string;
  root: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { check: false, values: 'values.yaml', root: process.cwd() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--check') args.check = true;
    else if (a === '--values') args.values = argv[++i] ?? args.values;
    else if (a === '--root') args.root = argv[++i] ?? args.root;
    else
      throw new Error(
        `Unknown argument ${a}; usage: main.ts [--check] [--values FILE] [--root DIR]`,
      );
  }
  return args;
}

/** Files of `dir` whose content differs from `want`, plus files that should not be there. */
function diffDir(dir: string, want: Map<string, string>): string[] {
  const problems: string[] = [];
  const have = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.yaml')) : [];
  for (const [file, content] of want) {
    const path = join(dir, file);
    if (!existsSync(path)) problems.push(`${path} is missing`);
    else if (readFileSync(path, 'utf8') !== content) problems.push(`${path} differs`);
  }
  for (const file of have) if (!want.has(file)) problems.push(`${join(dir, file)} is stale`);
  return problems;
}

function writeDir(dir: string, want: Map<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(dir)) {
    if (file.endsWith('.yaml') && !want.has(file)) rmSync(join(dir, file));
  }
  for (const [file, content] of want) {
    const path = join(dir, file);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== content) writeFileSync(path, content);
  }
}

/** The argocd-cm patch from the committed Lua scripts. */
function healthPatch(root: string): string {
  const scripts = {} as Record<HealthKind, string>;
  for (const kind of HEALTH_KINDS) {
    scripts[kind] = composeHealthScript(
      healthSources(kind).map((file) => readFileSync(join(root, HEALTH_SCRIPT_DIR, file), 'utf8')),
    );
  }
  return argocdHealthPatch(scripts);
}

function main(): number {
  const args = parseArgs(process.argv.slice(2));
  const started = performance.now();
  const valuesPath = resolve(args.root, args.values);
  let text: string;
  try {
    text = readFileSync(valuesPath, 'utf8');
  } catch (error) {
    console.error(`Cannot read ${args.values}: ${(error as Error).message}`);
    return 1;
  }
  let out: ReturnType<typeof synthesize>;
  try {
    out = synthesize(parseValues(text, args.values));
  } catch (error) {
    if (error instanceof ValuesError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
  const distDir = join(args.root, 'dist');
  const crdDir = join(args.root, 'crds');
  const healthPath = join(args.root, HEALTH_PATCH_FILE);
  const health = healthPatch(args.root);
  if (args.check) {
    const problems = [...diffDir(crdDir, out.crds), ...diffDir(distDir, out.dist)];
    if (!existsSync(healthPath)) problems.push(`${healthPath} is missing`);
    else if (readFileSync(healthPath, 'utf8') !== health) problems.push(`${healthPath} differs`);
    if (problems.length > 0) {
      console.error(`Synth is stale; run make synth and commit:\n  ${problems.join('\n  ')}`);
      return 1;
    }
    console.log(
      `dist/, crds/ and ${HEALTH_PATCH_FILE} are up to date (${out.dist.size} + ${out.crds.size} + 1 files)`,
    );
    return 0;
  }
  writeDir(crdDir, out.crds);
  writeDir(distDir, out.dist);
  if (!existsSync(healthPath) || readFileSync(healthPath, 'utf8') !== health) {
    writeFileSync(healthPath, health);
  }
  const bytes = [...out.dist.values()].reduce((n, s) => n + Buffer.byteLength(s), 0);
  const docs = [...out.dist.values()].reduce((n, s) => n + s.split('---\n').length - 1, 0);
  console.log(
    `Synthesized ${docs} objects in ${out.dist.size} files (${(bytes / 1024).toFixed(1)} KiB) to dist/ and ${out.crds.size} CRDs to crds/ in ${Math.round(performance.now() - started)} ms`,
  );
  return 0;
}

process.exitCode = main();
