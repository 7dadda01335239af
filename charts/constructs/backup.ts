// Backup storage for one Trench: the PVC the operator's dump Jobs write to. The Jobs
// themselves are created by the operator for each TrenchBackup, so that a backup's Job exists
// once and its outcome lands in the TrenchBackup's status. The claim has no ownerReference:
// deleting the Trench keeps it, with every dump on it.
import { ApiObject } from 'cdk8s';
import { Construct } from 'constructs';
import {
  ANNOTATION_RESOURCE_POLICY,
  checkQuantity,
  checkTrenchName,
  componentLabels,
  DEFAULT_MANAGED_BY,
  type Quantity,
  type TrenchComponentProps,
} from './common.js';

export interface BackupStorageProps extends TrenchComponentProps {
  /** Size of the backup volume claim. @default '20Gi' */
  readonly size?: Quantity;
  /** StorageClass of the claim. @default the cluster's default class */
  readonly storageClassName?: string;
}

export class BackupStorage extends Construct {
  /** `<trench>-backups`. */
  public readonly claimName: string;

  constructor(scope: Construct, id: string, props: BackupStorageProps) {
    super(scope, id);
    const c = 'BackupStorage';
    checkTrenchName(c, props.trench);
    const size = props.size ?? '20Gi';
    checkQuantity(c, 'size', size);
    this.claimName = `${props.trench}-backups`;
    new ApiObject(this, 'Claim', {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: {
        name: this.claimName,
        labels: componentLabels('backup', props.trench, props.managedBy ?? DEFAULT_MANAGED_BY),
        // Kept when the Trench is deleted: the dumps outlive it, like the data volumes.
        annotations: { [ANNOTATION_RESOURCE_POLICY]: 'keep' },
      },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: size } },
        ...(props.storageClassName ? { storageClassName: props.storageClassName } : {}),
      },
    });
  }
}
