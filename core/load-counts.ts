/**
 * A load's counts, as the transform produces them and the warehouse records them in etl_loads (where
 * reconciliation checks the staged rows against them): the one shape both stages agree on.
 */
export interface LoadCounts {
  extracted: number;
  duplicates: number;
  rejectedOrders: number;
  rejectedItems: number;
  /** Winning versions of this load (loaded, or kept out by a newer stored version). */
  orders: number;
  lines: number;
}
