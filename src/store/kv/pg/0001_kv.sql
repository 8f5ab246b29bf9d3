-- Every table of the store: its name, the key's ordered bytes, the value's bytes.
CREATE TABLE kv (
    tbl text NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (tbl, k)
);

-- Every multimap table: a row for each value under a key.
CREATE TABLE kv_multimap (
    tbl text NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (tbl, k, v)
);
