// A database worth restoring: several column types, an index, a foreign key, a sequence moved by
// hand and a large object; a damage that touches each of them; and a snapshot of all of it as one
// comparable value. Shared by the dump Job's test and the restore controller's.
import type { PostgresServer } from './services.js';

export async function seedShopData(pg: PostgresServer): Promise<void> {
  await pg.sql(`
    CREATE TABLE items (id bigserial PRIMARY KEY, sku text NOT NULL, price numeric(10,2),
      tags jsonb, seen timestamptz, active boolean, raw bytea);
    CREATE UNIQUE INDEX items_sku ON items (sku);
    INSERT INTO items (sku, price, tags, seen, active, raw)
      SELECT 'sku-' || g, g * 1.25, jsonb_build_object('n', g, 'even', g % 2 = 0),
             timestamptz '2026-12-01 00:00:00+00' + g * interval '1 minute', g % 3 = 0,
             decode(md5(g::text), 'hex')
      FROM generate_series(1, 5000) g;
    CREATE TABLE orders (id int PRIMARY KEY, item bigint REFERENCES items(id), note text);
    INSERT INTO orders SELECT g, g, repeat('ü', g % 7) FROM generate_series(1, 300) g;
    CREATE TABLE attachments (name text PRIMARY KEY, blob oid);
    INSERT INTO attachments VALUES ('logo', lo_from_bytea(0, convert_to(repeat('trench', 20000), 'UTF8')));
    SELECT setval('items_id_seq', 7000);
  `);
}

/** Drops a table, changes and deletes rows, moves the sequence and unlinks the large object. */
export async function damageShopData(pg: PostgresServer): Promise<void> {
  await pg.sql(`
    DROP TABLE orders;
    UPDATE items SET price = 0 WHERE id % 2 = 0;
    DELETE FROM items WHERE id > 4000;
    SELECT setval('items_id_seq', 9999);
    SELECT lo_unlink(blob) FROM attachments;
  `);
}

/** Everything a restore must bring back, as one comparable value. */
export async function shopSnapshot(pg: PostgresServer): Promise<Record<string, string>> {
  return {
    items: await pg.sql(
      "SELECT md5(string_agg(i::text, '|' ORDER BY id)) || ':' || count(*) FROM items i",
    ),
    orders: await pg.sql("SELECT md5(string_agg(o::text, '|' ORDER BY id)) FROM orders o"),
    sequence: await pg.sql('SELECT last_value FROM items_id_seq'),
    index: await pg.sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'items_sku'"),
    largeObject: await pg.sql("SELECT md5(lo_get(blob)) FROM attachments WHERE name = 'logo'"),
  };
}
