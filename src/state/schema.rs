//! The tables of a state file, and how files of earlier formats become this one.

/// One row per customer. `customer_id` is Plain's id for it, NULL for a customer Plain
/// confirmed only in a batch (`importCustomers` answers counts, never ids), which then has an
/// `external_id`; the id is filled in when an answer names it. `email` (as Plain compares it:
/// trimmed and lowercased) and `external_id` are what Plain last reported for it. The three
/// are each unique where present, so that an input naming the customer by any of them finds
/// this one row. `entry` numbers the rows, for notes that must name a row without an id.
/// `digest` is NULL when nothing may be skipped for the customer (a deletion was written
/// ahead, or a migrated entry whose input is unknown). `missing_since` is the number of the
/// first `--missing` list that named the customer since an input last did.
const CUSTOMERS: &str = "
    CREATE TABLE customers (
        entry INTEGER PRIMARY KEY,
        customer_id TEXT UNIQUE,
        email TEXT UNIQUE,
        external_id TEXT UNIQUE,
        digest BLOB,
        result TEXT NOT NULL,
        synced_at INTEGER NOT NULL,
        missing_since INTEGER,
        deleting INTEGER NOT NULL DEFAULT 0,
        CHECK (customer_id IS NOT NULL OR external_id IS NOT NULL)
    );
";

/// What the file is bound to, and its own id.
const META: &str =
    "CREATE TABLE meta (name TEXT NOT NULL PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;";

/// The customers of format 2: keyed by Plain's id, which every row had.
const CUSTOMERS_2: &str = "
    CREATE TABLE customers (
        customer_id TEXT NOT NULL PRIMARY KEY,
        email TEXT UNIQUE,
        external_id TEXT UNIQUE,
        digest BLOB,
        result TEXT NOT NULL,
        synced_at INTEGER NOT NULL,
        missing_since INTEGER,
        deleting INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
";

/// A new file's tables.
pub(super) fn create() -> String {
    format!("{CUSTOMERS} {META}")
}

/// Format 1 kept one row per identifier: one customer synced by email and by external id
/// was two entries. Each customer becomes one row of format 2; its input digest is kept only
/// where it had one row, so a customer that had two is sent once more. Then as from 2.
pub(super) fn migrate_from_1() -> String {
    format!(
        "ALTER TABLE customers RENAME TO customers_1;
         {CUSTOMERS_2} {META}
         INSERT INTO customers (customer_id, email, external_id, digest, result, synced_at)
             SELECT customer_id,
                    (SELECT min(value) FROM customers_1 AS e
                      WHERE e.customer_id = c.customer_id AND e.kind = 'emailAddress'),
                    (SELECT min(value) FROM customers_1 AS x
                      WHERE x.customer_id = c.customer_id AND x.kind = 'externalId'),
                    CASE WHEN count(*) = 1 THEN max(digest) END,
                    max(result), max(synced_at)
               FROM customers_1 AS c GROUP BY customer_id;
         DROP TABLE customers_1;
         {}",
        migrate_from_2()
    )
}

/// Format 2 had a customer id in every row. Every row is kept as it is, numbered.
pub(super) fn migrate_from_2() -> String {
    format!(
        "ALTER TABLE customers RENAME TO customers_2;
         {CUSTOMERS}
         INSERT INTO customers (customer_id, email, external_id, digest, result, synced_at,
                                missing_since, deleting)
             SELECT customer_id, email, external_id, digest, result, synced_at,
                    missing_since, deleting
               FROM customers_2 ORDER BY customer_id;
         DROP TABLE customers_2;"
    )
}
