-- Top 10 users by revenue
SELECT u.user_id, u.email, u.country, COUNT(DISTINCT f.order_id) AS orders, SUM(f.line_amount) AS revenue
FROM fact_sales f
JOIN dim_user u ON u.user_id = f.user_id
GROUP BY u.user_id, u.email, u.country
ORDER BY revenue DESC NULLS LAST, u.user_id
LIMIT 10;
