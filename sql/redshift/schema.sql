-- Amazon Redshift DDL of the orders-etl star schema.
-- GENERATED from core/schema.ts by schemaSql('redshift'); tests/schema-sql.test.ts fails if this file drifts.
-- Change the table definitions there, then regenerate: UPDATE_SCHEMA_SQL=1 npx jest tests/schema-sql.test.ts
-- The loader creates missing tables itself (RedshiftWarehouse.ensureSchema); this file is for review and DBAs.
--
-- Physical design:
--   fact_sales, dim_order  DISTSTYLE KEY, DISTKEY (order_id): an order's header and lines sit on the same slice,
--                          so their join (and the merge's delete/insert by order_id) never redistributes rows.
--                          SORTKEY (order_date, order_id): date-range scans read only the blocks of the range
--                          (zone maps), and rows of one order stay together within a day.
--   dim_user, dim_product  DISTSTYLE ALL: small dimensions copied to every node, so fact joins are always local;
--                          sorted by their key for the merge's look-ups.
--   rejected_records       DISTSTYLE EVEN, SORTKEY (rejected_at): quarantine rows are never joined, so spread them
--                          evenly; they are read by recency (the latest loads' rejections).
--   etl_loads              DISTSTYLE ALL, SORTKEY (started_at): one tiny row per load, read by status and the
--                          reconciliation from any node.
-- PRIMARY KEY constraints are informational in Redshift (not enforced): the merge keeps the keys unique.

CREATE TABLE IF NOT EXISTS fact_sales (
  order_id        VARCHAR(256) NOT NULL,
  line_number     INTEGER NOT NULL,
  user_id         VARCHAR(256) NOT NULL,
  sku             VARCHAR(256) NOT NULL,
  created_at      TIMESTAMP NOT NULL,
  order_date      DATE NOT NULL,
  quantity        INTEGER NOT NULL,
  unit_price      DECIMAL(18,2),
  line_amount     DECIMAL(18,2),
  currency        VARCHAR(256),
  PRIMARY KEY (order_id, line_number)
)
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (order_date, order_id);

CREATE TABLE IF NOT EXISTS dim_order (
  order_id        VARCHAR(256) NOT NULL,
  user_id         VARCHAR(256) NOT NULL,
  created_at      TIMESTAMP NOT NULL,
  order_date      DATE NOT NULL,
  total_amount    DECIMAL(18,2),
  currency        VARCHAR(256),
  source          VARCHAR(256) NOT NULL,
  promo           VARCHAR(256),
  item_count      INTEGER NOT NULL,
  PRIMARY KEY (order_id)
)
DISTSTYLE KEY
DISTKEY (order_id)
SORTKEY (order_date, order_id);

CREATE TABLE IF NOT EXISTS dim_user (
  user_id         VARCHAR(256) NOT NULL,
  email           VARCHAR(256),
  country         VARCHAR(256),
  created_at      TIMESTAMP,
  is_inferred     BOOLEAN NOT NULL,
  PRIMARY KEY (user_id)
)
DISTSTYLE ALL
SORTKEY (user_id);

CREATE TABLE IF NOT EXISTS dim_product (
  sku             VARCHAR(256) NOT NULL,
  name            VARCHAR(256),
  category        VARCHAR(256),
  price           DECIMAL(18,2),
  is_inferred     BOOLEAN NOT NULL,
  PRIMARY KEY (sku)
)
DISTSTYLE ALL
SORTKEY (sku);

CREATE TABLE IF NOT EXISTS rejected_records (
  load_id         VARCHAR(256) NOT NULL,
  order_id        VARCHAR(256),
  line_number     INTEGER,
  reason          VARCHAR(256) NOT NULL,
  record          VARCHAR(65535) NOT NULL,
  rejected_at     TIMESTAMP NOT NULL
)
DISTSTYLE EVEN
SORTKEY (rejected_at);

CREATE TABLE IF NOT EXISTS etl_loads (
  load_id         VARCHAR(256) NOT NULL,
  pipeline_id     VARCHAR(256) NOT NULL,
  source          VARCHAR(256) NOT NULL,
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
  lines_loaded    BIGINT NOT NULL,
  PRIMARY KEY (load_id)
)
DISTSTYLE ALL
SORTKEY (started_at);

CREATE TABLE IF NOT EXISTS schema_fields (
  load_id         VARCHAR(256) NOT NULL,
  path            VARCHAR(256) NOT NULL,
  json_type       VARCHAR(256) NOT NULL,
  nullable        BOOLEAN NOT NULL,
  records         BIGINT NOT NULL,
  truncated       BOOLEAN NOT NULL,
  PRIMARY KEY (load_id, path)
)
DISTSTYLE ALL
SORTKEY (load_id);

CREATE TABLE IF NOT EXISTS schema_changes (
  load_id         VARCHAR(256) NOT NULL,
  path            VARCHAR(256) NOT NULL,
  change          VARCHAR(256) NOT NULL,
  old_type        VARCHAR(256),
  new_type        VARCHAR(256),
  previous_load_id VARCHAR(256) NOT NULL,
  detected_at     TIMESTAMP NOT NULL,
  PRIMARY KEY (load_id, path)
)
DISTSTYLE ALL
SORTKEY (detected_at);

CREATE TABLE IF NOT EXISTS quality_checks (
  load_id         VARCHAR(256) NOT NULL,
  "check"         VARCHAR(256) NOT NULL,
  observed        DOUBLE PRECISION NOT NULL,
  threshold       DOUBLE PRECISION,
  outcome         VARCHAR(256) NOT NULL,
  PRIMARY KEY (load_id, "check")
)
DISTSTYLE ALL
SORTKEY (load_id);

CREATE TABLE IF NOT EXISTS etl_schema_version (
  version         INTEGER NOT NULL,
  applied_at      TIMESTAMP NOT NULL
);
