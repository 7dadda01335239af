import { describe, expect, it } from 'vitest';
import { RenderCache } from '../../../operator/trench/render-cache.js';

const objects = [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'shop-api' } }];

describe('RenderCache', () => {
  it('hands back a copy for the same uid and generation only', () => {
    const cache = new RenderCache();
    cache.set('ns/shop', 'uid-1', 3, objects);
    expect(cache.get('ns/shop', 'uid-1', 3)).toEqual(objects);
    expect(cache.get('ns/shop', 'uid-1', 4)).toBeUndefined();
    // Same name, new object: a Trench deleted and created again must render anew.
    expect(cache.get('ns/shop', 'uid-2', 3)).toBeUndefined();
    expect(cache.get('ns/other', 'uid-1', 3)).toBeUndefined();
  });

  it('is not changed by what a caller does to the copy it got', () => {
    const cache = new RenderCache();
    cache.set('ns/shop', 'uid-1', 1, objects);
    const first = cache.get('ns/shop', 'uid-1', 1)!;
    first[0]!.metadata!.name = 'changed';
    expect(cache.get('ns/shop', 'uid-1', 1)![0]!.metadata!.name).toBe('shop-api');
  });

  it('keeps nothing without a generation, replaces on a new one, and forgets on delete', () => {
    const cache = new RenderCache();
    cache.set('ns/shop', 'uid-1', undefined, objects);
    expect(cache.size).toBe(0);
    cache.set('ns/shop', 'uid-1', 1, objects);
    cache.set('ns/shop', 'uid-1', 2, []);
    expect(cache.size).toBe(1);
    expect(cache.get('ns/shop', 'uid-1', 1)).toBeUndefined();
    expect(cache.get('ns/shop', 'uid-1', 2)).toEqual([]);
    cache.delete('ns/shop');
    expect(cache.size).toBe(0);
  });
});
