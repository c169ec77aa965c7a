/** Examples under a command's help (`blockvault help backup`), in the shape git and kubectl use. */

export function examplesText(...lines: readonly [example: string, what: string][]): string {
  return `\nExamples:\n${lines.map(([example, what]) => `  # ${what}\n  ${example}`).join('\n\n')}`;
}
