/** The tenant-role generator (infra/tenant-roles.js): which tenants it accepts and the resources it emits. */
import { keys } from '../../shared/store/table';

const { leadingKeysOf, logicalIdOf, resources, tenantsOf } = require('../../infra/tenant-roles.js') as {
  leadingKeysOf: (tenantId: string) => string[];
  logicalIdOf: (tenantId: string) => string;
  resources: (options: { resolveVariable: (name: string) => Promise<string> }) => Promise<{
    Resources: Record<string, { Type: string }>;
    Outputs: Record<string, unknown>;
  }>;
  tenantsOf: (list: string) => string[];
};

const resolverFor =
  (tenants: string) =>
  async (name: string): Promise<string> =>
    ({ 'param:tenantRoleTenants': tenants, 'self:service': 'sovereign-agent', 'sls:stage': 'prod' })[name] ??
    '';

test('an empty list makes no role; a list makes one role and one output per tenant', async () => {
  expect(await resources({ resolveVariable: resolverFor('') })).toEqual({ Resources: {}, Outputs: {} });
  const made = await resources({ resolveVariable: resolverFor('acme, globex') });
  expect(Object.values(made.Resources).map((r) => r.Type)).toEqual(['AWS::IAM::Role', 'AWS::IAM::Role']);
  expect(Object.keys(made.Outputs)).toHaveLength(2);
});

test('a tenant id the goal events would refuse is refused here too', () => {
  expect(() => tenantsOf('acme,T#other')).toThrow('"T#other" is not a tenant id');
  expect(() => tenantsOf('-acme')).toThrow('is not a tenant id');
  expect(tenantsOf(' acme ,,globex_1 ')).toEqual(['acme', 'globex_1']);
});

test('ids that differ only in punctuation get different logical ids', () => {
  expect(logicalIdOf('a-b')).not.toBe(logicalIdOf('ab'));
  expect(logicalIdOf('a-b')).toMatch(/^TenantRole[A-Za-z0-9]+$/);
});

test("the leading keys are the table's tenant and session partition keys", () => {
  const [tenantKey, sessionGlob] = leadingKeysOf('acme');
  expect(tenantKey).toBe(keys.tenantPolicy('acme').pk);
  expect(keys.session('acme', 's1').pk.startsWith(String(sessionGlob).replace('*', ''))).toBe(true);
});
