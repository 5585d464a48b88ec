-- Top 10 products by units sold
SELECT p.sku, p.name, p.category, SUM(f.quantity) AS units, SUM(f.line_amount) AS revenue
FROM fact_sales f
JOIN dim_product p ON p.sku = f.sku
GROUP BY p.sku, p.name, p.category
ORDER BY units DESC, revenue DESC NULLS LAST, p.sku
LIMIT 10;
