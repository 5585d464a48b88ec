-- Revenue by user country
SELECT COALESCE(u.country, '(unknown)') AS country, COUNT(DISTINCT f.order_id) AS orders, SUM(f.line_amount) AS revenue
FROM fact_sales f
JOIN dim_user u ON u.user_id = f.user_id
GROUP BY COALESCE(u.country, '(unknown)')
ORDER BY revenue DESC NULLS LAST, country;
