// Entry point of the local cluster's volume provisioner; `up` starts it, `down` stops it by pid.
import { KubeConfig } from '@kubernetes/client-node';
import { runProvisioner } from './lib/provisioner.js';

const [kubeconfig, storageClass, volumesDir] = process.argv.slice(2);
if (!kubeconfig || !storageClass || !volumesDir) {
  console.error('Usage: provisioner.ts KUBECONFIG STORAGE_CLASS VOLUMES_DIR');
  process.exit(2);
}
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
await runProvisioner(kc, storageClass, volumesDir);
console.log(`Provisioner started for StorageClass ${storageClass}`);
