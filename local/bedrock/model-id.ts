/** The catalog key a Converse model id names: the id itself, or the id an ARN ends with. */

/**
 * arn:aws:bedrock:<region>:<account>:inference-profile/<id>, arn:aws:bedrock:<region>::foundation-model/<id> and
 * arn:aws:bedrock:<region>:<account>:imported-model/<id> name the catalog entry <id>; a plain id names itself.
 */
export const catalogKeyOf = (modelId: string): string =>
  modelId.startsWith('arn:') && modelId.includes('/') ? modelId.slice(modelId.indexOf('/') + 1) : modelId;
