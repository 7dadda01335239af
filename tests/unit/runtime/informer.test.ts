import { describe, expect, it } from 'vitest';
import { ownerKeyOf, stripManagedFields } from '../../../operator/runtime/informer.js';
import { byControllerOwner } from '../../../operator/runtime/manager.js';
import type { OwnerReference } from '../../../operator/runtime/types.js';
import { objectKey, splitKey } from '../../../operator/runtime/types.js';

const TRENCH = { apiVersion: 'playtrenches.xyz/v1alpha1', kind: 'Trench' };
const child = (refs: OwnerReference[]) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'shop-api', namespace: 'prod', ownerReferences: refs },
});
const ref = (over: Partial<OwnerReference> = {}): OwnerReference => ({
  apiVersion: 'playtrenches.xyz/v1alpha1',
  kind: 'Trench',
  name: 'shop',
  uid: 'u',
  controller: true,
  ...over,
});

describe('ownerKeyOf', () => {
  it.each([
    ['controller owner of the kind', [ref()], 'prod/shop'],
    [
      'another version of the same group',
      [ref({ apiVersion: 'playtrenches.xyz/v1beta1' })],
      'prod/shop',
    ],
    ['not the controller', [ref({ controller: false })], undefined],
    ['controller of another kind', [ref({ kind: 'TrenchBackup' })], undefined],
    ['controller of another group', [ref({ apiVersion: 'example.com/v1alpha1' })], undefined],
    ['no owners', [], undefined],
    [
      'picks the controller among several',
      [ref({ controller: false, name: 'a' }), ref({ name: 'b' })],
      'prod/b',
    ],
  ])('%s', (_n, refs, key) => {
    expect(ownerKeyOf(child(refs), TRENCH)).toBe(key);
  });
});

describe('handlers', () => {
  it('map a child to its controller owner key, and an orphan to none', () => {
    expect(byControllerOwner(TRENCH)(child([ref()]))).toEqual(['prod/shop']);
    expect(byControllerOwner(TRENCH)(child([]))).toEqual([]);
  });

  it('keys round-trip', () => {
    expect(objectKey({ metadata: { name: 'n', namespace: 'ns' } })).toBe('ns/n');
    expect(objectKey({ metadata: { name: 'n' } })).toBe('n');
    expect(splitKey('ns/n')).toEqual({ namespace: 'ns', name: 'n' });
    expect(splitKey('n')).toEqual({ name: 'n' });
  });

  it('strips managedFields from cached objects', () => {
    expect(stripManagedFields({ metadata: { name: 'a', managedFields: [{}] } })).toEqual({
      metadata: { name: 'a' },
    });
  });
});
