/**
 * Which AWS SDK v3 commands a Lambda handler can reach: a call-graph walk over the project's own source with the
 * TypeScript type checker, so the IAM test derives each role's actions from the code instead of a hand-kept list.
 *
 * What the walk counts as reached, starting from the handler module:
 * - the top-level code of every project module that is reached or imported (Node runs it at cold start);
 * - every function, method, accessor, or function-valued const or property that reached code refers to (calls,
 *   passes as a callback or stores), resolved through imports by the checker; closures inside reached code count;
 * - for `new C()` of a project class: its constructor (parameter defaults included), property initializers and base
 *   classes, not its methods (those are reached where they are called);
 * - a member reached through an interface or type literal has no body to resolve to: it reaches the member of that
 *   name on every project class the walk instantiates (rapid type analysis). Function-typed members need nothing
 *   more: the value stored in them is written at a site the walk reaches.
 * It over-approximates (a branch never taken still counts), the safe side for least privilege: it can only ask for a
 * grant the code may not need, never hide one it needs. Dispatch the checker cannot see (`obj[name]()`, `any`) would
 * be missed; strict TypeScript with no `any` keeps it out of functions/ and shared/.
 */
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface SdkCommand {
  /** The command class, e.g. `GetCommand` (lib-dynamodb) or `PutEventsCommand`. */
  name: string;
  /** Property names of the request (nested ones included): TransactWrite item kinds, `IndexName`... */
  requestKeys: string[];
  /** `path:line` of the `new` expression, for failure messages. */
  at: string;
}

/** One program over the given entry files, with the project's own compiler options. */
export const projectProgram = (root: string, entryFiles: string[]): ts.Program => {
  const config = ts.readConfigFile(join(root, 'tsconfig.json'), ts.sys.readFile);
  if (config.error) throw new Error(ts.flattenDiagnosticMessageText(config.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, root);
  return ts.createProgram(entryFiles, { ...parsed.options, noEmit: true });
};

/** Property names written anywhere inside `node` (object literal keys, shorthand included). */
const propertyNames = (node: ts.Node): Set<string> => {
  const names = new Set<string>();
  const visit = (child: ts.Node): void => {
    if (
      (ts.isPropertyAssignment(child) || ts.isShorthandPropertyAssignment(child)) &&
      ts.isIdentifier(child.name)
    ) {
      names.add(child.name.text);
    }
    ts.forEachChild(child, visit);
  };
  visit(node);
  return names;
};

const isFunctionValue = (node: ts.Node | undefined): node is ts.ArrowFunction | ts.FunctionExpression =>
  node !== undefined && (ts.isArrowFunction(node) || ts.isFunctionExpression(node));

/** An identifier that names the declaration it belongs to (not a reference to something else). */
const isDeclarationName = (id: ts.Identifier): boolean => {
  const parent = id.parent;
  if (ts.isPropertyAccessExpression(parent) || ts.isShorthandPropertyAssignment(parent)) return false;
  return (parent as { name?: ts.Node }).name === id;
};

class CallGraphWalk {
  private readonly found = new Map<string, SdkCommand>();
  private readonly reached = new Set<ts.Node>();
  private readonly modulesRun = new Set<ts.SourceFile>();
  private readonly instantiated = new Set<ts.ClassLikeDeclaration>();
  private readonly membersViaInterface = new Set<string>();

  constructor(
    private readonly checker: ts.TypeChecker,
    private readonly root: string,
  ) {}

  get commands(): SdkCommand[] {
    return [...this.found.values()];
  }

  private isProject(node: ts.Node): boolean {
    const file = node.getSourceFile();
    return !file.isDeclarationFile && !file.fileName.includes('/node_modules/') && this.inRoot(file.fileName);
  }

  private inRoot(fileName: string): boolean {
    return !relative(this.root, resolve(fileName)).startsWith('..');
  }

  private symbolOf(node: ts.Node): ts.Symbol | undefined {
    const symbol = ts.isShorthandPropertyAssignment(node.parent)
      ? this.checker.getShorthandAssignmentValueSymbol(node.parent)
      : this.checker.getSymbolAtLocation(node);
    if (symbol && symbol.flags & ts.SymbolFlags.Alias) return this.checker.getAliasedSymbol(symbol);
    return symbol;
  }

  /** Runs a module's top-level code once: imports (their modules run too), initializers, statements. */
  runModule(file: ts.SourceFile): void {
    if (this.modulesRun.has(file) || !this.isProject(file)) return;
    this.modulesRun.add(file);
    for (const statement of file.statements) {
      if (ts.isImportDeclaration(statement) || ts.isExportDeclaration(statement)) {
        if (ts.isImportDeclaration(statement) && statement.importClause?.isTypeOnly) continue;
        const target = statement.moduleSpecifier && this.symbolOf(statement.moduleSpecifier);
        const declaration = target?.valueDeclaration;
        if (declaration && ts.isSourceFile(declaration)) this.runModule(declaration);
      } else if (ts.isVariableStatement(statement)) {
        for (const declaration of statement.declarationList.declarations) {
          if (declaration.initializer && !isFunctionValue(declaration.initializer)) {
            this.reach(declaration.initializer);
          }
        }
      } else if (ts.isExpressionStatement(statement) || ts.isIfStatement(statement)) {
        this.reach(statement);
      }
    }
  }

  /** Runs `node` (a body, an initializer): what it constructs and refers to is reached in turn. */
  reach(node: ts.Node): void {
    if (this.reached.has(node)) return;
    this.reached.add(node);
    this.runModule(node.getSourceFile());
    const visit = (child: ts.Node): void => {
      if (ts.isNewExpression(child)) this.onNew(child);
      if (ts.isIdentifier(child) && !isDeclarationName(child)) this.onReference(child);
      ts.forEachChild(child, visit);
    };
    visit(node);
  }

  /** Reaches what a declaration runs when it is referred to. */
  onDeclaration(declaration: ts.Declaration, via?: ts.Identifier): void {
    if (!this.isProject(declaration)) return;
    if (
      (ts.isFunctionDeclaration(declaration) ||
        ts.isMethodDeclaration(declaration) ||
        ts.isGetAccessorDeclaration(declaration) ||
        ts.isSetAccessorDeclaration(declaration)) &&
      declaration.body
    ) {
      this.reach(declaration.body);
    } else if (
      (ts.isVariableDeclaration(declaration) ||
        ts.isPropertyDeclaration(declaration) ||
        ts.isPropertyAssignment(declaration)) &&
      isFunctionValue(declaration.initializer)
    ) {
      this.reach(declaration.initializer);
    } else if ((ts.isMethodSignature(declaration) || ts.isPropertySignature(declaration)) && via) {
      this.onInterfaceMember(via.text);
    }
  }

  private onReference(id: ts.Identifier): void {
    for (const declaration of this.symbolOf(id)?.declarations ?? []) this.onDeclaration(declaration, id);
  }

  private onNew(expression: ts.NewExpression): void {
    const symbol = this.symbolOf(expression.expression);
    const declaration = symbol?.declarations?.[0];
    if (!symbol || !declaration) return;
    if (this.isProject(declaration)) {
      if (ts.isClassLike(declaration)) this.construct(declaration);
      return;
    }
    const fromSdk = declaration.getSourceFile().fileName.includes('/node_modules/@aws-sdk/');
    if (fromSdk && symbol.name.endsWith('Command')) this.record(symbol.name, expression);
  }

  private record(name: string, expression: ts.NewExpression): void {
    const file = expression.getSourceFile();
    const line = file.getLineAndCharacterOfPosition(expression.getStart()).line + 1;
    const at = `${relative(this.root, file.fileName)}:${line}`;
    const request = expression.arguments?.[0];
    this.found.set(`${name} ${at}`, { name, at, requestKeys: request ? [...propertyNames(request)] : [] });
  }

  private construct(declaration: ts.ClassLikeDeclaration): void {
    if (this.instantiated.has(declaration)) return;
    this.instantiated.add(declaration);
    for (const member of declaration.members) {
      if (ts.isConstructorDeclaration(member)) this.reach(member);
      else if (ts.isPropertyDeclaration(member) && member.initializer && !isStatic(member)) {
        this.reach(member.initializer);
      }
    }
    for (const clause of declaration.heritageClauses ?? []) {
      if (clause.token !== ts.SyntaxKind.ExtendsKeyword) continue;
      for (const base of clause.types) {
        const baseDeclaration = this.symbolOf(base.expression)?.declarations?.[0];
        if (baseDeclaration && this.isProject(baseDeclaration) && ts.isClassLike(baseDeclaration)) {
          this.construct(baseDeclaration);
        }
      }
    }
    for (const name of this.membersViaInterface) this.reachMember(declaration, name);
  }

  private onInterfaceMember(name: string): void {
    if (this.membersViaInterface.has(name)) return;
    this.membersViaInterface.add(name);
    for (const declaration of this.instantiated) this.reachMember(declaration, name);
  }

  private reachMember(declaration: ts.ClassLikeDeclaration, name: string): void {
    for (const member of declaration.members) {
      if (member.name && ts.isIdentifier(member.name) && member.name.text === name)
        this.onDeclaration(member);
    }
  }
}

const isStatic = (member: ts.ClassElement): boolean =>
  (ts.getCombinedModifierFlags(member as ts.Declaration) & ts.ModifierFlags.Static) !== 0;

/** The SDK commands a handler (`file`'s export `exportName`) can construct, each with where it is built. */
export const commandsReachedFrom = (
  program: ts.Program,
  root: string,
  file: string,
  exportName: string,
): SdkCommand[] => {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!source || !moduleSymbol) throw new Error(`${file} is not in the program`);
  const exported = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === exportName);
  if (!exported) throw new Error(`${file} exports no ${exportName}`);
  const walk = new CallGraphWalk(checker, root);
  walk.runModule(source);
  const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
  for (const declaration of target.declarations ?? []) walk.onDeclaration(declaration);
  return walk.commands;
};
