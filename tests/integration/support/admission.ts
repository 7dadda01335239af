// A real ValidatingAdmissionPolicy that refuses Deployments whose image has a given tag in
// one namespace: how tests make the API server refuse an operator's apply.
import { kubectl, mustKubectl, waitFor } from './cluster.js';

export interface ImageDenial {
  /** Unbinds the policy: the same apply goes through again. */
  allow(): Promise<void>;
  /** Deletes the binding and the policy (for afterAll; safe when already gone). */
  remove(): Promise<void>;
}

export async function denyImagesTagged(
  policy: string,
  namespace: string,
  tag: string,
): Promise<ImageDenial> {
  const docs = [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name: policy },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: {
          resourceRules: [
            {
              apiGroups: ['apps'],
              apiVersions: ['v1'],
              operations: ['CREATE', 'UPDATE'],
              resources: ['deployments'],
            },
          ],
        },
        validations: [
          {
            expression: `!object.spec.template.spec.containers.exists(c, c.image.endsWith(':${tag}'))`,
            message: `images tagged ${tag} are not allowed here`,
          },
        ],
      },
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name: policy },
      spec: {
        policyName: policy,
        validationActions: ['Deny'],
        matchResources: {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': namespace } },
        },
      },
    },
  ];
  await mustKubectl(['apply', '-f', '-'], docs.map((d) => JSON.stringify(d)).join('\n'));
  // The policy takes effect once the API server has loaded it: probe with a dry run.
  await waitFor(
    async () => {
      const r = await kubectl([
        'create',
        'deployment',
        'probe',
        '-n',
        namespace,
        `--image=x:${tag}`,
        '--dry-run=server',
      ]);
      return r.code !== 0 && r.stderr.includes(`tagged ${tag}`) ? true : undefined;
    },
    { what: 'the admission policy to be in force', timeoutMs: 30_000 },
  );
  return {
    allow: async () => {
      await mustKubectl(['delete', 'validatingadmissionpolicybinding', policy]);
    },
    remove: async () => {
      await kubectl(['delete', 'validatingadmissionpolicybinding', policy, '--ignore-not-found']);
      await kubectl(['delete', 'validatingadmissionpolicy', policy, '--ignore-not-found']);
    },
  };
}
