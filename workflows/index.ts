export { ordersEtl, progressQuery } from './orders-etl';
export { warehouseLock } from './warehouse-lock';
