// The alert rules through Prometheus's own tool: `promtool check rules` on the generated rules
// file and on the PrometheusRule the chart renders (helm template), and `promtool test rules` on
// the unit tests of monitoring/alerts/tests, in which every alert fires on series that should page
// or ticket and stays silent on series that should not (this file checks that they do, for every
// alert the rules define).
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { alerts, RULES_FILE, ruleGroups } from '../../monitoring/alerts/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const TESTS = join(ROOT, 'monitoring', 'alerts', 'tests');
const run = promisify(execFile);
const tmp = mkdtempSync(join(tmpdir(), 'imcloud-promtool-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs a tool to completion: its exit code and everything it printed. */
async function tool(command: string, args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await run(command, args, { cwd: ROOT, maxBuffer: 64 << 20 });
    return { code: 0, output: `${stdout}${stderr}`.trim() };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : -1, output: `${e.stdout ?? ''}${e.stderr ?? ''}`.trim() || e.message };
  }
}

const promtool = (...args: string[]) => tool(process.env.IMCLOUD_PROMTOOL ?? 'promtool', args);
const ruleCount = ruleGroups().reduce((n, g) => n + g.rules.length, 0);
const testFiles = readdirSync(TESTS)
  .filter((f) => f.endsWith('.test.yaml'))
  .sort()
  .map((f) => join(TESTS, f));

interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts?: Array<{ exp_labels?: Record<string, string> }> | null;
}

describe('alert rules (promtool)', () => {
  it(`promtool check rules accepts ${RULES_FILE}`, async () => {
    const { code, output } = await promtool('check', 'rules', join(ROOT, RULES_FILE));
    console.log(output);
    expect(code, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${ruleCount} rules found`);
  });

  it("promtool check rules accepts the chart's rendered PrometheusRule, which holds exactly those rules", async () => {
    const helm = process.env.IMCLOUD_HELM ?? 'helm';
    const rendered = await tool(helm, [
      'template',
      'imcloud',
      join(ROOT, 'charts', 'imcloud'),
      '--api-versions',
      'monitoring.coreos.com/v1',
      '--show-only',
      'templates/prometheusrule.yaml',
    ]);
    expect(rendered.code, rendered.output).toBe(0);
    const docs = parseAllDocuments(rendered.output).map((d) => d.toJS() as { kind?: string; spec?: { groups: unknown[] } });
    const rule = docs.find((d) => d?.kind === 'PrometheusRule');
    expect(rule?.spec?.groups, 'the PrometheusRule has spec.groups').toBeDefined();
    expect(rule!.spec).toEqual(parse(readFileSync(join(ROOT, RULES_FILE), 'utf8')));
    const file = join(tmp, 'rendered-prometheusrule.yaml');
    writeFileSync(file, stringify({ groups: rule!.spec!.groups }));
    const { code, output } = await promtool('check', 'rules', file);
    console.log(output);
    expect(code, output).toBe(0);
    expect(output).toContain(`SUCCESS: ${ruleCount} rules found`);
  });

  it('promtool test rules: every unit test of monitoring/alerts/tests passes', async () => {
    expect(testFiles.length).toBeGreaterThan(0);
    const { code, output } = await promtool('test', 'rules', ...testFiles);
    console.log(output);
    expect(code, output).toBe(0);
    expect(output).not.toContain('FAILED');
  });

  it('every alert has a test where it fires and one where it stays silent', () => {
    const fires = new Set<string>();
    const silent = new Set<string>();
    const unknown: string[] = [];
    const names = new Set(alerts().map((a) => a.alert));
    for (const file of testFiles) {
      const doc = parse(readFileSync(file, 'utf8')) as { tests: Array<{ alert_rule_test?: AlertTest[] }> };
      for (const t of doc.tests.flatMap((x) => x.alert_rule_test ?? [])) {
        if (!names.has(t.alertname)) unknown.push(`${file}: ${t.alertname}`);
        (t.exp_alerts?.length ? fires : silent).add(t.alertname);
      }
    }
    expect(unknown, 'tests of alerts the rules do not define').toEqual([]);
    expect(
      [...names].filter((n) => !fires.has(n)),
      'alerts no test makes fire',
    ).toEqual([]);
    expect(
      [...names].filter((n) => !silent.has(n)),
      'alerts no test keeps silent',
    ).toEqual([]);
    console.log(`promtool: ${names.size} alerts, each fires and stays silent in ${testFiles.length} test files`);
  });

  it('every firing expectation names the severity the rule gives (page or ticket)', () => {
    const severity = new Map(alerts().map((a) => [a.alert, a.labels.severity]));
    const wrong: string[] = [];
    for (const file of testFiles) {
      const doc = parse(readFileSync(file, 'utf8')) as { tests: Array<{ alert_rule_test?: AlertTest[] }> };
      for (const t of doc.tests.flatMap((x) => x.alert_rule_test ?? []))
        for (const a of t.exp_alerts ?? [])
          if (a.exp_labels?.severity !== severity.get(t.alertname))
            wrong.push(`${t.alertname} at ${t.eval_time}: ${a.exp_labels?.severity}`);
    }
    expect(wrong).toEqual([]);
  });
});
