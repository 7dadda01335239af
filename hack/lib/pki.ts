// Certificates and keys for the local control plane, made with the openssl CLI (node:crypto
// makes keys but cannot issue X.509 certificates). ECDSA P-256 keeps generation fast.
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Identity {
  /** File stem: `<dir>/<name>.crt` and `<dir>/<name>.key`. */
  readonly name: string;
  readonly commonName: string;
  readonly organization?: string;
  readonly usage: 'server' | 'client';
  /** Subject alternative names, e.g. ["IP:127.0.0.1", "DNS:localhost"]. */
  readonly altNames?: readonly string[];
}

export interface Pki {
  readonly caCert: string;
  readonly caKey: string;
  readonly serviceAccountKey: string;
  readonly serviceAccountPub: string;
  cert(name: string): { readonly cert: string; readonly key: string };
}

/** The openssl extension section for one identity. Pure, for tests. */
export function extensions(identity: Identity): string {
  const lines = [
    '[v3]',
    'basicConstraints = critical, CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    `extendedKeyUsage = ${identity.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
  ];
  if (identity.altNames?.length) lines.push(`subjectAltName = ${identity.altNames.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export function subject(identity: Identity): string {
  return `/CN=${identity.commonName}${identity.organization ? `/O=${identity.organization}` : ''}`;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createPki(dir: string, identities: readonly Identity[]): Promise<Pki> {
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await run('openssl', [
    'req',
    '-x509',
    ...EC,
    '-keyout',
    caKey,
    '-out',
    caCert,
    '-days',
    '3650',
    '-subj',
    '/CN=trench-local-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  await Promise.all(
    identities.map(async (id) => {
      const key = join(dir, `${id.name}.key`);
      const csr = join(dir, `${id.name}.csr`);
      const ext = join(dir, `${id.name}.ext`);
      writeFileSync(ext, extensions(id));
      await run('openssl', [
        'req',
        '-new',
        ...EC,
        '-keyout',
        key,
        '-out',
        csr,
        '-subj',
        subject(id),
      ]);
      await run('openssl', [
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        caCert,
        '-CAkey',
        caKey,
        '-set_serial',
        `0x${Buffer.from(id.name).toString('hex').slice(0, 30)}`,
        '-out',
        join(dir, `${id.name}.crt`),
        '-days',
        '3650',
        '-extfile',
        ext,
        '-extensions',
        'v3',
      ]);
    }),
  );
  const sa = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'sec1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const serviceAccountKey = join(dir, 'sa.key');
  const serviceAccountPub = join(dir, 'sa.pub');
  writeFileSync(serviceAccountKey, sa.privateKey, { mode: 0o600 });
  writeFileSync(serviceAccountPub, sa.publicKey);
  return {
    caCert,
    caKey,
    serviceAccountKey,
    serviceAccountPub,
    cert: (name) => ({ cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
  };
}

export function base64File(path: string): string {
  return readFileSync(path).toString('base64');
}
