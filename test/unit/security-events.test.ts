import { logSecurityEvent } from '../../shared/observability/security-events';
import { logger, metrics } from '../../shared/runtime/powertools';

describe('logSecurityEvent', () => {
  afterEach(() => jest.restoreAllMocks());

  it('logs one WARN "Security event" line with the type and details, and counts SecurityEvents by type', () => {
    const warn = jest.spyOn(logger, 'warn');
    const single = metrics.singleMetric();
    const addDimension = jest.spyOn(single, 'addDimension');
    const addMetric = jest.spyOn(single, 'addMetric').mockImplementation(() => single);
    jest.spyOn(metrics, 'singleMetric').mockReturnValue(single);

    logSecurityEvent('cross_tenant_call', { sessionId: 's-1', tenantId: 'acme', requestedTenant: 'initech' });

    expect(warn).toHaveBeenCalledWith('Security event', {
      securityEvent: {
        type: 'cross_tenant_call',
        sessionId: 's-1',
        tenantId: 'acme',
        requestedTenant: 'initech',
      },
    });
    expect(addDimension).toHaveBeenCalledWith('type', 'cross_tenant_call');
    expect(addMetric).toHaveBeenCalledWith('SecurityEvents', 'Count', 1);
  });
});
