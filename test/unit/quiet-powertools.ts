/**
 * Unit tests run the steps' code, which logs trace records and EMF metrics through the shared Powertools
 * instances: silenced here; the observability tests set their own environment and load fresh instances.
 */
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
