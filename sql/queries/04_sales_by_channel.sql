-- Daily sales by channel (order source)
SELECT o.order_date, o.source, COUNT(*) AS orders, SUM(o.total_amount) AS total_amount
FROM dim_order o
GROUP BY o.order_date, o.source
ORDER BY o.order_date, o.source;
