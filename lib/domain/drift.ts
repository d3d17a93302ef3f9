/** The CloudWatch metric of drift: components drifted, per stack (dimension `Stack`), put by each drift sweep. */
export const DRIFT_METRIC = { namespace: 'Tropos', name: 'DriftedComponents', dimension: 'Stack' } as const;
