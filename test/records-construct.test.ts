import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { Records } from '../lib/constructs/records';

describe('Records', () => {
  const stack = new Stack(new App(), 'RecordsTest');
  const records = new Records(stack, 'Records');
  const template = Template.fromStack(stack);

  test('there are two tables: runs and environments', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 2);
  });

  // RETAIN only covers CloudFormation; deletion protection also refuses a DeleteTable from the console, the CLI or
  // any other tool, whoever's credentials it runs with.
  test.each([
    ['runs', () => records.runs],
    ['environments', () => records.environments],
  ])('refuses to let the %s table be deleted: deletion protection on', (_, table) => {
    const id = stack.getLogicalId(table().node.defaultChild as never);
    expect(template.toJSON()).toMatchObject({
      Resources: { [id]: { Type: 'AWS::DynamoDB::Table', Properties: { DeletionProtectionEnabled: true } } },
    });
  });
});
