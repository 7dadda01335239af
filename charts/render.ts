// `make render FILE=trench.yaml`: prints, as YAML, every object the operator would create for
// the Trenches in FILE (ownerReferences left out: they need the live object's uid).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { API_VERSION } from './api/trench.js';
import { toYamlStream } from './lib/yaml.js';
import { InvalidTrenchError, type RenderOptions, renderTrench } from './trench-chart.js';

export class RenderFileError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`);
    this.name = 'RenderFileError';
  }
}

/** Renders every Trench document in `text`; errors name `file`, the document and the field. */
export function renderFile(text: string, file: string, options: RenderOptions = {}): string {
  const docs = parseAllDocuments(text, { uniqueKeys: true });
  if (!Array.isArray(docs)) throw new RenderFileError(file, 'is empty');
  const out: unknown[] = [];
  docs.forEach((doc, i) => {
    const where = `document ${i + 1}`;
    const error = doc.errors[0];
    if (error) {
      throw new RenderFileError(
        file,
        `${where}, line ${error.linePos?.[0]?.line ?? 0}: ${error.message.split('\n')[0]}`,
      );
    }
    const obj = doc.toJS() as Record<string, unknown> | null;
    if (obj === null || obj === undefined) return;
    if (obj.kind !== 'Trench') {
      throw new RenderFileError(
        file,
        `${where}: kind must be Trench (got ${JSON.stringify(obj.kind)})`,
      );
    }
    if (obj.apiVersion !== API_VERSION) {
      throw new RenderFileError(
        file,
        `${where}: apiVersion must be ${API_VERSION} (got ${JSON.stringify(obj.apiVersion)})`,
      );
    }
    const metadata = (obj.metadata ?? {}) as { name?: string; namespace?: string };
    const namespace = metadata.namespace ?? 'default';
    try {
      out.push(
        ...renderTrench(
          { metadata: { name: metadata.name ?? '', namespace }, spec: obj.spec },
          options,
        ),
      );
    } catch (e) {
      if (e instanceof InvalidTrenchError) {
        throw new RenderFileError(
          file,
          `${where} (Trench ${metadata.name ?? '?'}):\n${e.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n')}`,
        );
      }
      throw e;
    }
  });
  if (out.length === 0) throw new RenderFileError(file, 'holds no Trench');
  return toYamlStream(out);
}

function main(): number {
  const args = process.argv.slice(2);
  const prometheusOperator = args.includes('--prometheus-operator');
  const file = args.find((a) => !a.startsWith('--'));
  if (!file) {
    console.error('Usage: render.ts [--prometheus-operator] FILE');
    return 2;
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    console.error(`Cannot read ${file}: ${(error as Error).message}`);
    return 1;
  }
  try {
    process.stdout.write(renderFile(text, file, { prometheusOperator }));
    return 0;
  } catch (error) {
    if (error instanceof RenderFileError) {
      console.error(error.message);
      return 1;
    }
    throw error;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)
  process.exitCode = main();
