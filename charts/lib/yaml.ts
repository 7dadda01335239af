// YAML as Kubernetes and Prometheus read it: they use YAML 1.1 parsers, where an unquoted
// `yes`, `on` or `010` is not a string. Writing with the 1.1 schema quotes those; no line
// folding keeps long PromQL and CEL on one line.
import { stringify } from 'yaml';

export function toYaml(value: unknown): string {
  return stringify(value, { version: '1.1', lineWidth: 0 });
}

/** A multi-document stream; every document starts with `---`. */
export function toYamlStream(docs: readonly unknown[]): string {
  return docs.map((d) => `---\n${toYaml(d)}`).join('');
}
