/** The one formatter of zod issues as "path: message" lines, for error messages and published issue lists. */
import type * as z from 'zod';

/** One line per issue; `root` names an issue about the whole value (no path). */
export const zodIssues = (error: z.ZodError, root = '(root)'): string[] =>
  error.issues.map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : root}: ${issue.message}`);
