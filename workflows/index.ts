export { ordersEtl, progressQuery } from './orders-etl';
