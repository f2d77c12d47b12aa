-- Custom providers are listed by name, then id, in byte order (as on SQLite and as every other
-- sorted text column here), not in the database's default collation, which would order and
-- page them differently from one server to the next.
ALTER TABLE custom_providers
    ALTER COLUMN name TYPE TEXT COLLATE "C",
    ALTER COLUMN id TYPE TEXT COLLATE "C";
