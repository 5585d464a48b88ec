-- DuckDB DDL of the orders-etl star schema (the local warehouse).
-- GENERATED from core/schema.ts by schemaSql('duckdb'); tests/schema-sql.test.ts fails if this file drifts.
-- Change the table definitions there, then regenerate: UPDATE_SCHEMA_SQL=1 npx jest tests/schema-sql.test.ts
-- The loader creates missing tables itself (DuckDbWarehouse runs this DDL before every load).
-- VARCHAR has no width in DuckDB: the transform keeps every value within the byte limits of core/schema.ts
-- (Redshift's widths: 256 bytes, 65,535 for rejected_records.record), so both warehouses hold the same data.

CREATE TABLE IF NOT EXISTS fact_sales (
  order_id        VARCHAR NOT NULL,
  line_number     INTEGER NOT NULL,
  user_id         VARCHAR NOT NULL,
  sku             VARCHAR NOT NULL,
  created_at      TIMESTAMP NOT NULL,
  order_date      DATE NOT NULL,
  quantity        INTEGER NOT NULL,
  unit_price      DECIMAL(18,2),
  line_amount     DECIMAL(18,2),
  currency        VARCHAR
);

CREATE TABLE IF NOT EXISTS dim_order (
  order_id        VARCHAR NOT NULL,
  user_id         VARCHAR NOT NULL,
  created_at      TIMESTAMP NOT NULL,
  order_date      DATE NOT NULL,
  total_amount    DECIMAL(18,2),
  currency        VARCHAR,
  source          VARCHAR NOT NULL,
  promo           VARCHAR,
  item_count      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS dim_user (
  user_id         VARCHAR NOT NULL,
  email           VARCHAR,
  country         VARCHAR,
  created_at      TIMESTAMP,
  is_inferred     BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS dim_product (
  sku             VARCHAR NOT NULL,
  name            VARCHAR,
  category        VARCHAR,
  price           DECIMAL(18,2),
  is_inferred     BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS rejected_records (
  load_id         VARCHAR NOT NULL,
  order_id        VARCHAR,
  line_number     INTEGER,
  reason          VARCHAR NOT NULL,
  record          VARCHAR NOT NULL,
  rejected_at     TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS etl_loads (
  load_id         VARCHAR NOT NULL,
  pipeline_id     VARCHAR NOT NULL,
  source          VARCHAR NOT NULL,
  started_at      TIMESTAMP NOT NULL,
  finished_at     TIMESTAMP NOT NULL,
  since_ts        TIMESTAMP,
  until_ts        TIMESTAMP,
  watermark       TIMESTAMP,
  extracted       BIGINT NOT NULL,
  duplicates      BIGINT NOT NULL,
  rejected_orders BIGINT NOT NULL,
  rejected_items  BIGINT NOT NULL,
  orders_loaded   BIGINT NOT NULL,
  orders_kept     BIGINT NOT NULL,
  lines_loaded    BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS schema_fields (
  load_id         VARCHAR NOT NULL,
  path            VARCHAR NOT NULL,
  json_type       VARCHAR NOT NULL,
  nullable        BOOLEAN NOT NULL,
  records         BIGINT NOT NULL,
  truncated       BOOLEAN NOT NULL
);

CREATE TABLE IF NOT EXISTS schema_changes (
  load_id         VARCHAR NOT NULL,
  path            VARCHAR NOT NULL,
  change          VARCHAR NOT NULL,
  old_type        VARCHAR,
  new_type        VARCHAR,
  previous_load_id VARCHAR NOT NULL,
  detected_at     TIMESTAMP NOT NULL
);

CREATE TABLE IF NOT EXISTS quality_checks (
  load_id         VARCHAR NOT NULL,
  "check"         VARCHAR NOT NULL,
  observed        DOUBLE NOT NULL,
  threshold       DOUBLE,
  outcome         VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS etl_schema_version (
  version         INTEGER NOT NULL,
  applied_at      TIMESTAMP NOT NULL
);
