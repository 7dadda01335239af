// A volume provisioner for the local cluster: kwok runs no kubelet and the cluster has no
// storage driver, so without it every StatefulSet with a volume claim template stays Pending.
// It binds each pending claim of the local StorageClass to a hostPath PersistentVolume made
// for it, and deletes volumes whose claim is gone.

import { join } from 'node:path';
import {
  CoreV1Api,
  type KubeConfig,
  makeInformer,
  type V1PersistentVolume,
  type V1PersistentVolumeClaim,
} from '@kubernetes/client-node';

export const PROVISIONER = 'playtrenches.xyz/local-hostpath';

/** The volume to create for `claim`, or undefined when it is not ours to provision. Pure. */
export function volumeFor(
  claim: V1PersistentVolumeClaim,
  storageClass: string,
  volumesDir: string,
): V1PersistentVolume | undefined {
  const { metadata, spec, status } = claim;
  if (!metadata?.uid || !metadata.name || !metadata.namespace || !spec) return undefined;
  if (spec.storageClassName !== storageClass) return undefined;
  if (spec.volumeName || (status?.phase && status.phase !== 'Pending')) return undefined;
  if (metadata.deletionTimestamp) return undefined;
  const name = `pvc-${metadata.uid}`;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONER } },
    spec: {
      capacity: { storage: spec.resources?.requests?.storage ?? '1Gi' },
      accessModes: spec.accessModes ?? ['ReadWriteOnce'],
      volumeMode: spec.volumeMode ?? 'Filesystem',
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: storageClass,
      hostPath: { path: join(volumesDir, name), type: 'DirectoryOrCreate' },
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: metadata.namespace,
        name: metadata.name,
        uid: metadata.uid,
      },
    },
  };
}

/** True when `volume` is one of ours and its claim is gone. Pure. */
export function isReleased(volume: V1PersistentVolume): boolean {
  return (
    volume.metadata?.annotations?.['pv.kubernetes.io/provisioned-by'] === PROVISIONER &&
    (volume.status?.phase === 'Released' || volume.status?.phase === 'Failed')
  );
}

const isConflict = (error: unknown) =>
  typeof error === 'object' &&
  error !== null &&
  'code' in error &&
  (error.code === 409 || error.code === 404);

/** Runs until the process ends. */
export async function runProvisioner(kc: KubeConfig, storageClass: string, volumesDir: string) {
  const core = kc.makeApiClient(CoreV1Api);
  const claims = makeInformer(kc, '/api/v1/persistentvolumeclaims', () =>
    core.listPersistentVolumeClaimForAllNamespaces(),
  );
  const volumes = makeInformer(kc, '/api/v1/persistentvolumes', () => core.listPersistentVolume());
  const provision = async (claim: V1PersistentVolumeClaim) => {
    const volume = volumeFor(claim, storageClass, volumesDir);
    if (!volume) return;
    await core.createPersistentVolume({ body: volume }).catch((error: unknown) => {
      if (!isConflict(error)) console.error(`Failed to create PersistentVolume: ${String(error)}`);
    });
  };
  const reclaim = async (volume: V1PersistentVolume) => {
    if (!isReleased(volume) || !volume.metadata?.name) return;
    await core.deletePersistentVolume({ name: volume.metadata.name }).catch((error: unknown) => {
      if (!isConflict(error)) console.error(`Failed to delete PersistentVolume: ${String(error)}`);
    });
  };
  claims.on('add', provision);
  claims.on('update', provision);
  volumes.on('add', reclaim);
  volumes.on('update', reclaim);
  for (const informer of [claims, volumes]) {
    informer.on('error', () => setTimeout(() => informer.start().catch(() => undefined), 1000));
    await informer.start();
  }
}
