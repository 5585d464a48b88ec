-- The orders contract (/work/shared/CONTRACT.md §3-§4) as one DuckDB script, as a skilled user writes it: the
-- peer the bench compares orders-etl with. Each line is parsed once by json_transform into a typed struct, the
-- winners' items are unnested once, and the star tables go to Parquet in the working directory.
-- The runner sets the variables orders_file, users_file, products_file and load_id; the last statement returns
-- the counts. Left out as beyond one SQL pass: a non-array `items` (it reads as no items, not as one
-- invalid_item), and a JSON number's text as sent (DuckDB reads numbers as doubles: 2.675 stays 2.675, but an
-- integer id beyond 2^64 would not).
SET TimeZone = 'UTC'; -- a created_at without an offset is UTC

CREATE TEMP TABLE records AS
SELECT
  pos,
  line,
  -- A line that starts with '{' and parses is an object; anything else is malformed (try: a line that is not JSON).
  CASE WHEN starts_with(ltrim(line), '{') THEN try(json_transform(line, '{
    "order_id": "VARCHAR", "user_id": "VARCHAR", "created_at": "VARCHAR", "currency": "VARCHAR", "amount": "VARCHAR",
    "metadata": {"source": "VARCHAR", "promo": "VARCHAR"},
    "items": [{"sku": "VARCHAR", "qty": "VARCHAR", "price": "VARCHAR"}]
  }')) END AS r
FROM (
  -- read_text + string_split keeps each line's position in the file (the tie-breaker of duplicates), which no
  -- JSON or CSV reader reports.
  SELECT unnest(lines) AS line, generate_subscripts(lines, 1) AS pos
  FROM (SELECT string_split(content, chr(10)) AS lines FROM read_text(getvariable('orders_file')))
)
WHERE line <> '';

CREATE TEMP TABLE checked AS
SELECT
  pos, line, r,
  try_cast(r.created_at AS TIMESTAMPTZ) AS created_ts,
  CASE
    WHEN r IS NULL THEN 'malformed_record'
    WHEN coalesce(trim(r.order_id), '') = '' THEN 'missing_order_id'
    WHEN coalesce(r.created_at, '') = '' THEN 'missing_created_at'
    WHEN NOT regexp_full_match(r.created_at, '\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?')
      OR try_cast(r.created_at AS TIMESTAMPTZ) IS NULL THEN 'invalid_created_at'
    WHEN try_cast(r.created_at AS TIMESTAMPTZ) > now() + INTERVAL 5 MINUTE THEN 'future_created_at'
    WHEN coalesce(trim(r.user_id), '') = '' THEN 'missing_user_id'
    WHEN strlen(r.order_id) > 256 OR strlen(r.user_id) > 256 OR strlen(r.currency) > 256
      OR strlen(r.metadata.source) > 256 OR strlen(r.metadata.promo) > 256
      OR (try_cast(r.amount AS DOUBLE) IS NOT NULL AND try_cast(r.amount AS DECIMAL(18,2)) IS NULL) THEN 'value_too_long'
  END AS reason
FROM records;

-- Latest created_at wins; on a tie, the later line of the file.
CREATE TEMP TABLE winners AS
SELECT * EXCLUDE (version) FROM (
  SELECT *, row_number() OVER (PARTITION BY r.order_id ORDER BY created_ts DESC, pos DESC) AS version
  FROM checked WHERE reason IS NULL
) WHERE version = 1;

CREATE TEMP TABLE items AS
SELECT
  w.r.order_id AS order_id, w.r.user_id AS user_id, w.created_ts, w.r.currency AS currency, w.line, item, line_number,
  try_cast(item.qty AS BIGINT) AS qty,
  try_cast(item.price AS DECIMAL(18,2)) AS unit_price,
  CASE
    WHEN coalesce(item.sku, '') = '' OR NOT regexp_full_match(coalesce(item.qty, ''), '\d+') OR try_cast(item.qty AS HUGEINT) = 0
      OR (item.price IS NOT NULL AND try_cast(item.price AS DOUBLE) IS NULL) THEN 'invalid_item'
    WHEN strlen(item.sku) > 256 OR try_cast(item.qty AS INTEGER) IS NULL
      OR (item.price IS NOT NULL AND try_cast(try_cast(item.price AS DECIMAL(38,2)) * try_cast(item.qty AS INTEGER) AS DECIMAL(18,2)) IS NULL)
      THEN 'value_too_long'
  END AS reason
FROM (SELECT *, unnest(r.items) AS item, generate_subscripts(r.items, 1) AS line_number FROM winners) w;

COPY (
  SELECT order_id, line_number, user_id, item.sku AS sku, created_ts::TIMESTAMP AS created_at, created_ts::DATE AS order_date,
    qty::INTEGER AS quantity, unit_price, (unit_price * qty)::DECIMAL(18,2) AS line_amount, currency
  FROM items WHERE reason IS NULL
) TO 'fact_sales.parquet' (FORMAT parquet);

COPY (
  SELECT w.r.order_id AS order_id, w.r.user_id AS user_id, w.created_ts::TIMESTAMP AS created_at, w.created_ts::DATE AS order_date,
    try_cast(w.r.amount AS DECIMAL(18,2)) AS total_amount, w.r.currency AS currency,
    coalesce(nullif(w.r.metadata.source, ''), 'unknown') AS source, nullif(w.r.metadata.promo, '') AS promo,
    coalesce(c.item_count, 0) AS item_count
  FROM winners w
  LEFT JOIN (SELECT order_id, count(*) AS item_count FROM items WHERE reason IS NULL GROUP BY order_id) c ON c.order_id = w.r.order_id
) TO 'dim_order.parquet' (FORMAT parquet);

-- Reference rows, plus an inferred member for each id the loaded orders use that the file lacks.
COPY (
  SELECT user_id::VARCHAR AS user_id, email::VARCHAR AS email, country::VARCHAR AS country, created_at::TIMESTAMP AS created_at, false AS is_inferred
  FROM read_csv(getvariable('users_file'), all_varchar = true, header = true, quote = '"')
  UNION ALL
  SELECT DISTINCT w.r.user_id, NULL, NULL, NULL, true FROM winners w
  WHERE w.r.user_id NOT IN (SELECT user_id FROM read_csv(getvariable('users_file'), all_varchar = true, header = true, quote = '"'))
) TO 'dim_user.parquet' (FORMAT parquet);

COPY (
  SELECT sku::VARCHAR AS sku, name::VARCHAR AS name, category::VARCHAR AS category, price::DECIMAL(18,2) AS price, false AS is_inferred
  FROM read_csv(getvariable('products_file'), all_varchar = true, header = true, quote = '"')
  UNION ALL
  SELECT DISTINCT item.sku, NULL, NULL, NULL, true FROM items
  WHERE reason IS NULL AND item.sku NOT IN (SELECT sku FROM read_csv(getvariable('products_file'), all_varchar = true, header = true, quote = '"'))
) TO 'dim_product.parquet' (FORMAT parquet);

-- A rejected item's record is its own text: only those few are read again from their line.
COPY (
  SELECT getvariable('load_id') AS load_id, CASE WHEN strlen(r.order_id) <= 256 THEN r.order_id END AS order_id,
    NULL::INTEGER AS line_number, reason, line AS record, now() AS rejected_at
  FROM checked WHERE reason IS NOT NULL
  UNION ALL
  SELECT getvariable('load_id'), order_id, line_number::INTEGER, reason, json_extract(line, '$.items[' || (line_number - 1) || ']')::VARCHAR, now()
  FROM items WHERE reason IS NOT NULL
) TO 'rejected_records.parquet' (FORMAT parquet);

SELECT
  (SELECT count(*) FROM records) AS extracted,
  (SELECT count(*) FROM checked WHERE reason IS NULL) - (SELECT count(*) FROM winners) AS duplicates,
  (SELECT count(*) FROM checked WHERE reason IS NOT NULL) AS rejected,
  (SELECT count(*) FROM items WHERE reason IS NOT NULL) AS "rejectedItems",
  (SELECT count(*) FROM winners) AS "ordersLoaded",
  (SELECT count(*) FROM items WHERE reason IS NULL) AS "linesLoaded";
