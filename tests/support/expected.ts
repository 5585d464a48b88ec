/** What tests/fixtures/independent-counts.py predicts (the keys a run's result can be checked against). */
export interface IndependentCounts {
  extracted: number;
  duplicates: number;
  rejected_orders: number;
  invalid_items: number;
  orders_loaded: number;
  fact_lines: number;
}

/** The counts of a run's result that the independent implementation predicts, named as the result names them. */
export function expectedRunCounts(expected: IndependentCounts) {
  return {
    extracted: expected.extracted,
    duplicates: expected.duplicates,
    rejected: expected.rejected_orders,
    rejectedItems: expected.invalid_items,
    ordersLoaded: expected.orders_loaded,
    linesLoaded: expected.fact_lines,
  };
}
