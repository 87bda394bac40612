// Types for check-imports.mjs, which src/cli/import-rules.test.ts runs on fake trees and on src/ itself.
export function importsOf(source: string): string[];
export function checkImports(srcDir: string): string[];
