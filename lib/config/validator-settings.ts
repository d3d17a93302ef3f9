import type { ValidatorSettings } from '../../lambdas/validate-input/core';
import type { Catalog } from '../workflow/catalog';
import type { TroposConfig } from './schema';

/** What the input validator needs of the configuration and the catalog (handed to it as JSON at deploy time). */
export function validatorSettings(config: TroposConfig, catalog: Catalog): ValidatorSettings {
  return {
    region: config.region,
    regions: [
      ...new Set([
        config.region,
        ...Object.values(config.accounts).flatMap((a) => (a.region ? [a.region] : [])),
        ...config.regions,
      ]),
    ],
    accounts: config.accounts,
    tiers: config.tiers,
    stateBackend: config.stateBackend,
    tagsPolicy: config.tagsPolicy,
    sets: Object.fromEntries(catalog.sets),
    defaultComponents: catalog.newStackComponents,
    infrastructureRef: config.infrastructure.ref,
  };
}
