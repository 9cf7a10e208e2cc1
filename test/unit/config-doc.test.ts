import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { README_BEGIN, README_END, renderConfigDoc, renderReadmeSettings } from '../../src/config/doc.js';
import { VARIABLES } from '../../src/config/variables.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const read = (file: string): string => readFileSync(path.join(ROOT, file), 'utf8');
const STALE = 'differs from src/config/variables.ts: run `npm run docs:config`';

describe('docs/CONFIG.md and the README settings table come from the config declarations', () => {
  it('docs/CONFIG.md is exactly what the declarations produce', () => {
    expect(read('docs/CONFIG.md'), `docs/CONFIG.md ${STALE}`).toBe(renderConfigDoc());
  });

  it("the README's settings table is exactly what the declarations produce", () => {
    const readme = read('README.md');
    const block = readme.slice(readme.indexOf(README_BEGIN), readme.indexOf(README_END) + README_END.length);
    expect(block, `README.md's settings table ${STALE}`).toBe(renderReadmeSettings());
  });

  it('loadConfig reads no variable that is not declared (and so documented)', () => {
    const asked = new Set<string>();
    const env = new Proxy<Record<string, string | undefined>>({}, {
      get: (_target, name) => {
        if (typeof name === 'string') asked.add(name);
        return undefined;
      },
    });
    loadConfig(env);
    const undeclared = [...asked].filter((name) => !(name in VARIABLES));
    expect(undeclared).toEqual([]);
    expect([...asked].sort()).toEqual(Object.keys(VARIABLES).sort());
  });

  it('every declared variable, its default and what it accepts are on the page; every default parses', () => {
    const page = read('docs/CONFIG.md');
    for (const [name, variable] of Object.entries(VARIABLES)) {
      expect(page).toContain(`**\`${name}\`**`);
      expect(page).toContain(variable.parser.accepts);
      if (variable.default !== null) expect(() => variable.parser.parse(variable.default as string), name).not.toThrow();
    }
  });
});
