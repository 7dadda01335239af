import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  binaryCacheDir,
  checkGo,
  ensureBinaries,
  userBinDir,
  versionLdflags,
} from '../../../hack/lib/binaries.js';
import {
  addonDir,
  componentArgs,
  down,
  fakeNode,
  kubeconfigYaml,
  writeJsonAtomic,
} from '../../../hack/lib/cluster.js';
import { createPki, extensions } from '../../../hack/lib/pki.js';
import { freePorts, isRunning, startProcess, stopProcess } from '../../../hack/lib/processes.js';
import { isReleased, volumeFor } from '../../../hack/lib/provisioner.js';
import {
  compareGoVersions,
  goDirective,
  readVersions,
  requiredVersion,
} from '../../../hack/lib/versions.js';

describe('versions', () => {
  it('reads the pinned versions from the wrapper modules', () => {
    const v = readVersions();
    expect(v.kubernetes).toMatch(/^v1\.(3[3-9]|[4-9]\d)\.\d+$/);
    expect(v.etcd).toMatch(/^v3\.[56]\.\d+$/);
    expect(v.fingerprint).toMatch(/^[0-9a-f]{12}$/);
  });

  it('finds a requirement in both go.mod forms and names the file when absent', () => {
    expect(requiredVersion('require k8s.io/kubernetes v1.34.4\n', 'k8s.io/kubernetes', 'f')).toBe(
      'v1.34.4',
    );
    expect(
      requiredVersion(
        'require (\n\tgo.etcd.io/etcd/server/v3 v3.6.16\n)',
        'go.etcd.io/etcd/server/v3',
        'f',
      ),
    ).toBe('v3.6.16');
    expect(() => requiredVersion('module x\n', 'k8s.io/kubernetes', 'hack/go/x/go.mod')).toThrow(
      'hack/go/x/go.mod: no requirement on k8s.io/kubernetes',
    );
    expect(() => goDirective('module x\n', 'a/go.mod')).toThrow('a/go.mod: no go directive');
  });

  it('orders Go versions numerically', () => {
    expect(compareGoVersions('1.9', '1.24')).toBe(-1);
    expect(compareGoVersions('1.26.0', '1.26')).toBe(0);
    expect(compareGoVersions('1.26.8', '1.26.0')).toBe(1);
  });
});

describe('binaries', () => {
  it('stamps the Kubernetes version into both version packages', () => {
    const flags = versionLdflags('v1.34.4');
    for (const pkg of ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version']) {
      expect(flags).toContain(`-X ${pkg}.gitVersion=v1.34.4`);
      expect(flags).toContain(`-X ${pkg}.gitMinor=34`);
    }
  });

  it('keys the cache by every version and the wrapper fingerprint', () => {
    const v = readVersions();
    const dir = binaryCacheDir(v, { XDG_CACHE_HOME: '/c' });
    expect(dir).toBe(
      `/c/trench/bin/k8s-${v.kubernetes}_etcd-${v.etcd}_kwok-${v.kwok}_${v.fingerprint}`,
    );
    expect(binaryCacheDir(v, { TRENCH_CACHE_DIR: '/t' })).toMatch(/^\/t\/bin\//);
  });

  it('prefers TRENCH_K8S_BIN over KUBEBUILDER_ASSETS', () => {
    expect(userBinDir({ TRENCH_K8S_BIN: '/a', KUBEBUILDER_ASSETS: '/b' })).toEqual({
      dir: '/a',
      variable: 'TRENCH_K8S_BIN',
    });
    expect(userBinDir({ KUBEBUILDER_ASSETS: '/b' })).toEqual({
      dir: '/b',
      variable: 'KUBEBUILDER_ASSETS',
    });
    expect(userBinDir({})).toBeUndefined();
  });

  it('names every missing binary of a user directory instead of building', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trench-bin-'));
    try {
      await expect(
        ensureBinaries(() => {}, { ...process.env, KUBEBUILDER_ASSETS: dir, TRENCH_K8S_BIN: '' }),
      ).rejects.toThrow(
        `KUBEBUILDER_ASSETS=${dir} lacks etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok`,
      );
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('accepts the Go on this machine and refuses an impossible minimum', async () => {
    await expect(checkGo('1.0')).resolves.toMatch(/^go1\./);
    await expect(checkGo('99.0')).rejects.toThrow(/Go 99\.0 or newer is needed .* found go1\./);
  });
});

describe('pki', () => {
  it('issues certificates that openssl verifies against the CA, with the right usages', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trench-pki-'));
    try {
      const pki = await createPki(dir, [
        {
          name: 'srv',
          commonName: 'kube-apiserver',
          usage: 'server',
          altNames: ['IP:127.0.0.1', 'DNS:localhost'],
        },
        { name: 'adm', commonName: 'admin', organization: 'system:masters', usage: 'client' },
      ]);
      for (const name of ['srv', 'adm']) {
        const out = execFileSync('openssl', [
          'verify',
          '-CAfile',
          pki.caCert,
          pki.cert(name).cert,
        ]).toString();
        expect(out.trim()).toBe(`${pki.cert(name).cert}: OK`);
      }
      const text = execFileSync('openssl', [
        'x509',
        '-noout',
        '-text',
        '-in',
        pki.cert('srv').cert,
      ]).toString();
      expect(text).toContain('IP Address:127.0.0.1');
      expect(text).toContain('TLS Web Server Authentication');
      const adm = execFileSync('openssl', [
        'x509',
        '-noout',
        '-subject',
        '-in',
        pki.cert('adm').cert,
      ]).toString();
      expect(adm).toContain('O = system:masters');
      expect(readFileSync(pki.serviceAccountKey, 'utf8')).toContain('BEGIN EC PRIVATE KEY');
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('writes client and server usages apart', () => {
    expect(extensions({ name: 'a', commonName: 'a', usage: 'client' })).toContain(
      'extendedKeyUsage = clientAuth',
    );
    expect(extensions({ name: 'a', commonName: 'a', usage: 'client' })).not.toContain(
      'subjectAltName',
    );
  });
});

describe('cluster configuration', () => {
  const ports = {
    etcd: 1,
    etcdPeer: 2,
    etcdMetrics: 3,
    apiserver: 4,
    controllerManager: 5,
    scheduler: 6,
    kwok: 7,
  };
  const args = componentArgs('/s', ports, {
    admin: '/s/kubeconfig',
    controllerManager: '/s/kcm',
    scheduler: '/s/sch',
  });

  it('runs the API server with RBAC and keeps the default admission plugins', () => {
    const api = args['kube-apiserver'];
    expect(api).toContain('--authorization-mode=Node,RBAC');
    expect(api).toContain('--etcd-servers=http://127.0.0.1:1');
    expect(api).toContain('--secure-port=4');
    expect(api.some((a) => a.startsWith('--disable-admission-plugins'))).toBe(false);
  });

  it('runs every controller, including the garbage collector, with service-account credentials', () => {
    const kcm = args['kube-controller-manager'];
    expect(kcm).toContain('--controllers=*');
    expect(kcm).toContain('--use-service-account-credentials=true');
  });

  it('lets kwok manage only the annotated fake nodes', () => {
    expect(args.kwok).toContain('--manage-all-nodes=false');
    expect(fakeNode(2).metadata.annotations['kwok.x-k8s.io/node']).toBe('fake');
    expect(fakeNode(2).metadata.name).toBe('kwok-node-2');
  });

  it('writes a kubeconfig with embedded credentials', () => {
    const cfg = parse(kubeconfigYaml('https://127.0.0.1:4', 'Q0E=', 'Q0VSVA==', 'S0VZ', 'admin'));
    expect(cfg['current-context']).toBe('trench-local');
    expect(cfg.clusters[0].cluster.server).toBe('https://127.0.0.1:4');
    expect(cfg.users[0].user['client-key-data']).toBe('S0VZ');
  });
});

describe('processes', () => {
  it('stops a started process by pid and never signals a pid running something else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trench-proc-'));
    try {
      const p = startProcess('sleeper', '/bin/sleep', ['60'], join(dir, 'log'));
      expect(isRunning(p)).toBe(true);
      expect(isRunning({ ...p, command: '/bin/other' })).toBe(false);
      expect(await stopProcess(p)).toBe(true);
      expect(isRunning(p)).toBe(false);
      expect(await stopProcess(p)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('down stops the add-ons and clears a state that a crash left unreadable', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trench-down-'));
    mkdirSync(addonDir(dir));
    const addon = startProcess('operator', '/bin/sleep', ['60'], join(dir, 'log'));
    try {
      writeJsonAtomic(join(addonDir(dir), 'operator.json'), addon);
      writeFileSync(join(addonDir(dir), 'half.json'), '{"pid": 12');
      writeFileSync(join(dir, 'state.json'), '{"version": 1, "proc');
      const lines: string[] = [];
      await down(dir, (l) => lines.push(l));
      expect(isRunning(addon)).toBe(false);
      expect(existsSync(dir)).toBe(false);
      expect(lines).toContain(`Stopped operator (pid ${addon.pid})`);
      expect(lines.filter((l) => l.startsWith('Ignored '))).toHaveLength(2);
    } finally {
      await stopProcess(addon); // when an assertion above failed before down() ran
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hands out distinct free ports', async () => {
    const ports = await freePorts(5);
    expect(new Set(ports).size).toBe(5);
  });
});

describe('provisioner', () => {
  const claim = {
    metadata: { name: 'data-db-0', namespace: 'ns', uid: 'u1' },
    spec: {
      storageClassName: 'standard',
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '5Gi' } },
    },
    status: { phase: 'Pending' },
  };

  it('makes a hostPath volume pre-bound to a pending claim of its class', () => {
    const pv = volumeFor(claim, 'standard', '/v');
    expect(pv?.metadata?.name).toBe('pvc-u1');
    expect(pv?.spec?.capacity).toEqual({ storage: '5Gi' });
    expect(pv?.spec?.claimRef).toMatchObject({ namespace: 'ns', name: 'data-db-0', uid: 'u1' });
    expect(pv?.spec?.hostPath?.path).toBe('/v/pvc-u1');
  });

  it('leaves claims of other classes and bound claims alone', () => {
    expect(
      volumeFor({ ...claim, spec: { ...claim.spec, storageClassName: 'fast' } }, 'standard', '/v'),
    ).toBeUndefined();
    expect(
      volumeFor({ ...claim, spec: { ...claim.spec, volumeName: 'x' } }, 'standard', '/v'),
    ).toBeUndefined();
    expect(volumeFor({ ...claim, status: { phase: 'Bound' } }, 'standard', '/v')).toBeUndefined();
  });

  it('reclaims only its own released volumes', () => {
    const ours = {
      metadata: {
        annotations: { 'pv.kubernetes.io/provisioned-by': 'playtrenches.xyz/local-hostpath' },
      },
    };
    expect(isReleased({ ...ours, status: { phase: 'Released' } })).toBe(true);
    expect(isReleased({ ...ours, status: { phase: 'Bound' } })).toBe(false);
    expect(isReleased({ metadata: {}, status: { phase: 'Released' } })).toBe(false);
  });
});
