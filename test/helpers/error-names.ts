/** Names of the project's error classes, found in its source (not by import path, so moving a module breaks nothing). */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

/** Every `.ts` file under `dir`, tests and declaration files left out. */
export const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' ? [] : sourceFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') && !name.endsWith('.test.ts') ? [path] : [];
  });

/** The string a class assigns to `this.name` in its constructor, if it is a literal. */
const assignedName = (node: ts.ClassDeclaration): string | undefined => {
  const ctor = node.members.find(ts.isConstructorDeclaration);
  for (const statement of ctor?.body?.statements ?? []) {
    if (!ts.isExpressionStatement(statement) || !ts.isBinaryExpression(statement.expression)) continue;
    const { left, operatorToken, right } = statement.expression;
    const isThisName =
      ts.isPropertyAccessExpression(left) &&
      left.expression.kind === ts.SyntaxKind.ThisKeyword &&
      left.name.text === 'name';
    if (isThisName && operatorToken.kind === ts.SyntaxKind.EqualsToken && ts.isStringLiteral(right)) {
      return right.text;
    }
  }
  return undefined;
};

/**
 * Error names the code can throw: classes under `dirs` that extend something and set `this.name` to a literal (the
 * way shared/ and the action groups declare them; Step Functions matches `ErrorEquals` on that name).
 */
export const errorClassNames = (dirs: string[]): Set<string> => {
  const names = new Set<string>();
  for (const file of dirs.flatMap(sourceFiles)) {
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isClassDeclaration(node) && node.heritageClauses?.length) {
        const name = assignedName(node);
        if (name) names.add(name);
      }
      ts.forEachChild(node, visit);
    };
    visit(source);
  }
  return names;
};
