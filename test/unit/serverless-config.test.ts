/** serverless.yml as the local stack reads it: schema, defaults, intrinsic resolution, rules and state machines. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  configInputsHash,
  eventBusName,
  InvalidServerlessConfigError,
  intrinsicContext,
  parseServerlessConfig,
  resolveEnvironment,
  resolveIntrinsics,
  tableProperties,
  UnresolvableReferenceError,
} from '../../local/stack/serverless-config';
import { eventRules, functionSpecs, stateMachineSpecs } from '../../local/stack/specs';

/** A trimmed `sls print --stage local --format json` of a service shaped like ours. */
const printed = () => ({
  service: 'demo',
  frameworkVersion: '>=3',
  provider: {
    name: 'aws',
    region: 'eu-west-1',
    stage: 'local',
    timeout: 30,
    memorySize: 512,
    environment: {
      TABLE_NAME: 'demo-local',
      SESSION_TTL_DAYS: 90,
      TABLE_ARN: { 'Fn::GetAtt': ['AgentTable', 'Arn'] },
    },
    iam: { role: { statements: [] } },
  },
  custom: {
    esbuild: { bundle: true, minify: true, sourcemap: true, target: 'node22', format: 'cjs', exclude: [] },
  },
  functions: {
    intake: {
      handler: 'functions/intake/handler.handler',
      events: [
        {
          eventBridge: {
            eventBus: { 'Fn::GetAtt': ['AgentBus', 'Name'] },
            pattern: { 'detail-type': ['Goal Submitted'] },
          },
        },
        { eventBridge: { schedule: 'rate(5 minutes)' } },
      ],
      environment: { STATE_MACHINE_ARN: { Ref: 'AgentGoalStateMachine' } },
      name: 'demo-local-intake',
    },
    billingActionGroup: {
      handler: 'functions/action-groups/billing/handler.handler',
      timeout: 10,
      events: [],
    },
  },
  stepFunctions: {
    stateMachines: {
      agentGoal: {
        id: 'AgentGoalStateMachine',
        name: 'demo-local-agent-goal',
        definition: {
          StartAt: 'Tool',
          States: {
            Tool: {
              Type: 'Task',
              Resource: { 'Fn::GetAtt': ['billingActionGroup', 'Arn'] },
              Parameters: { 'sessionId.$': '$.sessionId' },
              Next: 'Map',
            },
            Map: {
              Type: 'Map',
              ItemProcessor: {
                StartAt: 'Inner',
                States: { Inner: { Type: 'Task', Resource: { 'Fn::GetAtt': ['intake', 'Arn'] }, End: true } },
              },
              End: true,
            },
          },
        },
      },
    },
  },
  resources: {
    Resources: {
      AgentTable: {
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          TableName: 'demo-local',
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [
            { AttributeName: 'pk', AttributeType: 'S' },
            { AttributeName: 'sk', AttributeType: 'S' },
          ],
          KeySchema: [
            { AttributeName: 'pk', KeyType: 'HASH' },
            { AttributeName: 'sk', KeyType: 'RANGE' },
          ],
          TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      },
      AgentBus: { Type: 'AWS::Events::EventBus', Properties: { Name: 'demo-local' } },
    },
  },
});

describe('parseServerlessConfig', () => {
  it('applies the framework defaults: deployed names, logical ids, timeout and memory', () => {
    // Act
    const config = parseServerlessConfig(printed());

    // Assess
    expect(config).toMatchObject({
      service: 'demo',
      stage: 'local',
      region: 'eu-west-1',
      accountId: '000000000000',
    });
    expect(config.functions.billingActionGroup).toMatchObject({
      name: 'demo-local-billingActionGroup',
      logicalId: 'BillingActionGroupLambdaFunction',
      timeout: 10,
      memorySize: 512,
    });
    expect(config.functions.intake).toMatchObject({ name: 'demo-local-intake', timeout: 30 });
    expect(config.esbuild).toMatchObject({ bundle: true, format: 'cjs', target: 'node22' });
    expect(config.stateMachines.map((sm) => [sm.id, sm.name, sm.type])).toEqual([
      ['AgentGoalStateMachine', 'demo-local-agent-goal', 'STANDARD'],
    ]);
  });

  it('keeps eventBridge events with a pattern and skips schedule-only ones', () => {
    // Act
    const { functions } = parseServerlessConfig(printed());

    // Assess
    expect(functions.intake?.eventBridge).toEqual([
      {
        eventBus: { 'Fn::GetAtt': ['AgentBus', 'Name'] },
        pattern: { 'detail-type': ['Goal Submitted'] },
        enabled: true,
      },
    ]);
  });

  it('leaves out a variable whose value is null (a stage option that is off), as sls package does', () => {
    // Arrange
    const withOffOption = printed() as { provider: { environment: Record<string, unknown> } };
    withOffOption.provider.environment.AWS_LAMBDA_EXEC_WRAPPER = null;

    // Act
    const config = parseServerlessConfig(withOffOption);

    // Assess
    expect(config.provider.environment).toEqual(printed().provider.environment);
  });

  it('rejects a config without what the local stack needs, naming the path', () => {
    // Arrange
    const broken = printed() as Record<string, unknown>;
    (broken.functions as Record<string, Record<string, unknown>>).intake = { events: [] };
    (broken.provider as Record<string, unknown>).name = 'azure';

    // Act / Assess
    expect(() => parseServerlessConfig(broken)).toThrow(InvalidServerlessConfigError);
    expect(() => parseServerlessConfig(broken)).toThrow(/functions\.intake\.handler/);
    expect(() => parseServerlessConfig(broken)).toThrow(/provider\.name/);
  });

  it('refuses an esbuild option the local build would not pass on, so local bundles never differ silently', () => {
    // Arrange
    const withBanner = printed() as { custom: { esbuild: Record<string, unknown> } };
    withBanner.custom.esbuild.banner = { js: '// banner' };

    // Act / Assess
    expect(() => parseServerlessConfig(withBanner)).toThrow(InvalidServerlessConfigError);
    expect(() => parseServerlessConfig(withBanner)).toThrow(/custom\.esbuild.*banner/s);
  });

  it('validates the table properties and reads the bus name', () => {
    // Arrange
    const config = parseServerlessConfig(printed());
    const noKey = printed();
    delete (noKey.resources.Resources.AgentTable.Properties as Record<string, unknown>).KeySchema;

    // Act / Assess
    expect(tableProperties(config)).toMatchObject({
      TableName: 'demo-local',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
    expect(eventBusName(config)).toBe('demo-local');
    expect(() => tableProperties(parseServerlessConfig(noKey))).toThrow(
      /AgentTable\.Properties[\s\S]*KeySchema/,
    );
    expect(() => tableProperties(config, 'AgentBus')).toThrow(/must be an AWS::DynamoDB::Table/);
  });
});

describe('resolveIntrinsics', () => {
  const ctx = () => intrinsicContext(parseServerlessConfig(printed()));

  it('resolves functions by key and by logical id to local Lambda ARNs', () => {
    // Act / Assess
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['billingActionGroup', 'Arn'] }, ctx())).toBe(
      'arn:aws:lambda:eu-west-1:000000000000:function:demo-local-billingActionGroup',
    );
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['IntakeLambdaFunction', 'Arn'] }, ctx())).toBe(
      'arn:aws:lambda:eu-west-1:000000000000:function:demo-local-intake',
    );
    expect(resolveIntrinsics({ Ref: 'BillingActionGroupLambdaFunction' }, ctx())).toBe(
      'demo-local-billingActionGroup',
    );
  });

  it('resolves the state machine, table and bus as CloudFormation does (Ref vs GetAtt)', () => {
    // Act / Assess
    expect(resolveIntrinsics({ Ref: 'AgentGoalStateMachine' }, ctx())).toBe(
      'arn:aws:states:eu-west-1:000000000000:stateMachine:demo-local-agent-goal',
    );
    expect(resolveIntrinsics({ Ref: 'AgentTable' }, ctx())).toBe('demo-local');
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['AgentTable', 'Arn'] }, ctx())).toBe(
      'arn:aws:dynamodb:eu-west-1:000000000000:table/demo-local',
    );
    expect(resolveIntrinsics({ Ref: 'AgentBus' }, ctx())).toBe('demo-local');
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['AgentBus', 'Arn'] }, ctx())).toBe(
      'arn:aws:events:eu-west-1:000000000000:event-bus/demo-local',
    );
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['AgentBus', 'Name'] }, ctx())).toBe('demo-local');
  });

  it('resolves Fn::Join and Fn::Sub (pseudo parameters, variables, escaped literals) inside nested values', () => {
    // Arrange: Fn::Sub templates use CloudFormation's own ${...} syntax, not JavaScript's
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub template
    const subTemplate = 'arn:aws:bedrock:${AWS::Region}:${AWS::AccountId}:x/${AgentBus.Name}/${!Keep}';
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation Fn::Sub template
    const subWithVariables = '${Prefix}-${AgentTable}';
    // biome-ignore lint/suspicious/noTemplateCurlyInString: what ${!Keep} becomes
    const keptLiteral = 'arn:aws:bedrock:eu-west-1:000000000000:x/demo-local/${Keep}';
    const value = {
      list: [
        { 'Fn::Join': ['/', [{ 'Fn::GetAtt': ['AgentTable', 'Arn'] }, 'index', '*']] },
        { 'Fn::Sub': subTemplate },
        { 'Fn::Sub': [subWithVariables, { Prefix: { Ref: 'AWS::StackName' } }] },
      ],
      untouched: { Type: 'Task', n: 1 },
    };

    // Act
    const resolved = resolveIntrinsics(value, ctx());

    // Assess
    expect(resolved).toEqual({
      list: [
        'arn:aws:dynamodb:eu-west-1:000000000000:table/demo-local/index/*',
        keptLiteral,
        'demo-local-demo-local',
      ],
      untouched: { Type: 'Task', n: 1 },
    });
  });

  it('names the unknown reference, attribute or function and where it was found', () => {
    // Act / Assess
    expect(() =>
      resolveIntrinsics({ a: [{ Ref: 'NoSuchThing' }] }, ctx(), 'functions.x.environment'),
    ).toThrow(UnresolvableReferenceError);
    expect(() =>
      resolveIntrinsics({ a: [{ Ref: 'NoSuchThing' }] }, ctx(), 'functions.x.environment'),
    ).toThrow(
      /\{"Ref": "NoSuchThing"\} at functions\.x\.environment\.a\[0\]: the local stack knows no resource/,
    );
    expect(() => resolveIntrinsics({ 'Fn::GetAtt': ['AgentTable', 'StreamArn'] }, ctx())).toThrow(
      /no local attribute "StreamArn"/,
    );
    expect(() => resolveIntrinsics({ 'Fn::ImportValue': 'shared-vpc' }, ctx())).toThrow(
      /supports Ref, Fn::GetAtt, Fn::Join and Fn::Sub only/,
    );
  });

  it('turns an environment into strings and refuses values that are not scalars', () => {
    // Act / Assess
    expect(resolveEnvironment({ A: 90, B: true, C: { Ref: 'AgentTable' } }, ctx(), 'env')).toEqual({
      A: '90',
      B: 'true',
      C: 'demo-local',
    });
    expect(() => resolveEnvironment({ BAD: { nested: 'object' } }, ctx(), 'env')).toThrow(
      /env\.BAD must resolve/,
    );
  });
});

describe('what the local stack builds from the config', () => {
  it('gives each function its resolved provider + function environment', () => {
    // Arrange
    const config = parseServerlessConfig(printed());

    // Act
    const specs = functionSpecs(config, intrinsicContext(config));

    // Assess
    expect(specs.find((s) => s.key === 'intake')).toEqual({
      key: 'intake',
      name: 'demo-local-intake',
      handler: 'functions/intake/handler.handler',
      timeoutSeconds: 30,
      memorySize: 512,
      environment: {
        TABLE_NAME: 'demo-local',
        SESSION_TTL_DAYS: '90',
        TABLE_ARN: 'arn:aws:dynamodb:eu-west-1:000000000000:table/demo-local',
        STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:000000000000:stateMachine:demo-local-agent-goal',
      },
      // Lambda's defaults for asynchronous invocation: this fixture's intake configures none.
      asyncInvoke: { maximumRetryAttempts: 2, maximumEventAgeSeconds: 21_600 },
      packageFiles: [],
    });
  });

  it("lists the files a function's package.patterns carry, and refuses a glob it cannot match faithfully", () => {
    // Arrange: patterns as serverless.yml writes them, matched against this repository
    const withPatterns = (patterns: string[]) => {
      const raw = printed();
      return parseServerlessConfig({
        ...raw,
        functions: {
          ...raw.functions,
          billingActionGroup: { ...raw.functions.billingActionGroup, package: { patterns } },
        },
      });
    };
    const files = (patterns: string[]) => {
      const config = withPatterns(patterns);
      return functionSpecs(config, intrinsicContext(config)).find((s) => s.key === 'billingActionGroup')
        ?.packageFiles;
    };

    // Act / Assess
    expect(files(['functions/action-groups/billing/data/*.json'])).toEqual([
      'functions/action-groups/billing/data/acme.json',
      'functions/action-groups/billing/data/globex.json',
      'functions/action-groups/billing/data/initech.json',
    ]);
    expect(files(['serverless.yml'])).toEqual(['serverless.yml']);
    expect(() => files(['functions/**/data/*.json'])).toThrow(
      /package\.patterns: the local stack packs a file path or dir\/\*<suffix> only/,
    );
    expect(() => files(['no/such/file.json'])).toThrow(/no file no\/such\/file\.json/);
  });

  it('resolves every Task resource of the ASL, nested Map processors included', () => {
    // Arrange
    const config = parseServerlessConfig(printed());

    // Act
    const [machine] = stateMachineSpecs(config, intrinsicContext(config));

    // Assess
    expect(machine?.arn).toBe('arn:aws:states:eu-west-1:000000000000:stateMachine:demo-local-agent-goal');
    const states = machine?.definition.States as Record<string, Record<string, unknown>>;
    expect(states.Tool?.Resource).toBe(
      'arn:aws:lambda:eu-west-1:000000000000:function:demo-local-billingActionGroup',
    );
    expect(states.Tool?.Parameters).toEqual({ 'sessionId.$': '$.sessionId' });
    expect(JSON.stringify(states.Map)).toContain(
      '"Resource":"arn:aws:lambda:eu-west-1:000000000000:function:demo-local-intake"',
    );
  });

  it('makes one bus rule per eventBridge event, targeting its function', () => {
    // Arrange
    const config = parseServerlessConfig(printed());

    // Act
    const rules = eventRules(config, intrinsicContext(config));

    // Assess
    expect(rules).toEqual([
      {
        name: 'demo-local-intake-rule-1',
        eventBusName: 'demo-local',
        pattern: { 'detail-type': ['Goal Submitted'] },
        targets: [{ functionArn: 'arn:aws:lambda:eu-west-1:000000000000:function:demo-local-intake' }],
      },
    ]);
  });
});

describe('configInputsHash', () => {
  it('changes when serverless.yml or a state machine changes, so the sls print cache is never stale', () => {
    // Arrange
    const dir = mkdtempSync(join(tmpdir(), 'sls-hash-'));
    try {
      writeFileSync(join(dir, 'serverless.yml'), 'service: demo\n');
      mkdirSync(join(dir, 'statemachines'));
      writeFileSync(join(dir, 'statemachines', 'a.asl.json'), '{"StartAt":"A"}');
      const first = configInputsHash(dir);

      // Act
      writeFileSync(join(dir, 'statemachines', 'a.asl.json'), '{"StartAt":"B"}');
      const afterAsl = configInputsHash(dir);
      writeFileSync(join(dir, 'serverless.yml'), 'service: demo2\n');
      const afterYml = configInputsHash(dir);

      // Assess
      expect(new Set([first, afterAsl, afterYml]).size).toBe(3);
      expect(configInputsHash(dir)).toBe(afterYml);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
