// Turns groups of attacks into vitest tests against one target: one test per attack (its own
// assertions, then: every process alive and answering, nothing crossed tenants) and one check
// per group (every process alive and ready, the bystanders of another app still chat, app A
// still cannot read app B). Results go to the tally (tally.ts).
import { afterAll, beforeAll, describe, it } from 'vitest';
import { testLogDir } from '../../support/test-log-dir.js';
import { describeLeaks, type Leak, leaksSeenBy, takeTracked } from './canary.js';
import type { Endpoint } from './client.js';
import { record } from './tally.js';
import { health, revive, startEmbedded, startMultiProcess, type Target, type TargetKind } from './target.js';
import { World } from './world.js';

export interface AttackContext {
  target: Target;
  world: World;
  /** The gate the attack aims at. */
  gate: Endpoint;
  /** The HTTP base URL of every process of the target. */
  httpUrls: string[];
  /** A measurement worth keeping in the test output (e.g. RSS growth). */
  note(text: string): void;
}

export interface Attack {
  name: string;
  /**
   * Set for an attack of the hardening issue that fails on main until its fix lands: what it
   * expects, in a few words. Such attacks are marked [open] in the test name and skipped with
   * IMCLOUD_ATTACK_SKIP_OPEN=1.
   */
  open?: string;
  /** Default: both. */
  targets?: TargetKind[];
  /**
   * Roles whose processes are restarted before the attack (the embedded process serves every
   * role), so that what it measures (RSS) starts from a fresh process, not from memory an
   * earlier attack left committed.
   */
  fresh?: string[];
  timeoutMs?: number;
  run(ctx: AttackContext): Promise<void>;
}

export interface Group {
  name: string;
  attacks: Attack[];
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function closeAll(): Leak[] {
  const clients = takeTracked();
  const leaks = clients.flatMap((c) => leaksSeenBy(c));
  for (const c of clients) c.close();
  return leaks;
}

export function attackSuite(kind: TargetKind, groups: Group[]): void {
  const targets = (process.env.IMCLOUD_ATTACK_TARGETS ?? 'embedded,multi-process').split(',').map((s) => s.trim());
  if (!targets.includes(kind)) {
    it.skip(`${kind}: not among IMCLOUD_ATTACK_TARGETS=${process.env.IMCLOUD_ATTACK_TARGETS}`, () => undefined);
    return;
  }
  const skipOpen = process.env.IMCLOUD_ATTACK_SKIP_OPEN === '1';
  const logDir = testLogDir(`attack-${kind}`);
  let target: Target | undefined;
  let world: World | undefined;

  beforeAll(async () => {
    target = kind === 'embedded' ? await startEmbedded(logDir) : await startMultiProcess(logDir);
    world = new World(target);
    await world.init();
    closeAll();
  }, 240_000);

  afterAll(async () => {
    closeAll();
    await target?.stop();
  }, 60_000);

  /** After an attack or a group: health, and a restart of what died (then fresh apps on a volatile target). */
  async function settle(): Promise<{ problems: string[] }> {
    const h = await health(target!);
    if (!h.ok) {
      const broken = target!.processes.filter((p) => h.problems.some((line) => line.startsWith(`${p.name}`))).map((p) => p.name);
      await revive(target!, broken);
      if (target!.volatile) await world!.init();
      closeAll();
    }
    return { problems: h.problems };
  }

  for (const group of groups) {
    const attacks = group.attacks.filter((a) => (a.targets ?? ['embedded', 'multi-process']).includes(kind) && !(skipOpen && a.open));
    if (attacks.length === 0) continue;
    describe(group.name, () => {
      for (const attack of attacks) {
        record({ kind: 'plan', target: kind, group: group.name, attack: attack.name, open: attack.open !== undefined });
        const title = attack.open ? `${attack.name} [open: ${attack.open}]` : attack.name;
        it(
          title,
          async () => {
            if (!target || !world) throw new Error('the target did not start');
            closeAll();
            if (attack.fresh) {
              for (const p of target.processes) if (p.role === 'all' || attack.fresh.includes(p.role)) await p.restart();
              if (target.volatile) await world.init();
              closeAll();
            }
            const notes: string[] = [];
            const ctx: AttackContext = {
              target,
              world,
              gate: target.gates[0]!,
              httpUrls: target.processes.map((p) => p.url),
              note: (text) => {
                notes.push(text);
                console.log(`[${kind}] ${attack.name}: ${text}`);
              },
            };
            let failure: unknown;
            try {
              await attack.run(ctx);
            } catch (err) {
              failure = err;
            }
            const leaks = closeAll();
            const { problems } = await settle();
            const crashed = problems.length > 0;
            const errors = [
              ...(crashed ? [`the target broke: ${problems.join('; ')}`] : []),
              ...(leaks.length ? [`cross-tenant data seen: ${describeLeaks(leaks)}`] : []),
              ...(failure !== undefined ? [message(failure)] : []),
            ];
            record({
              kind: 'attack',
              target: kind,
              group: group.name,
              attack: attack.name,
              passed: failure === undefined,
              crashed,
              leaked: leaks.length > 0,
              ...(errors.length && { error: errors.join(' | ') }),
            });
            if (failure !== undefined && !crashed && !leaks.length) throw failure;
            if (errors.length) throw new Error(errors.join('\n'));
          },
          attack.timeoutMs ?? 60_000,
        );
      }

      it('afterwards: every process alive and ready, the bystanders of another app chat, no tenant crossed', async () => {
        if (!target || !world) throw new Error('the target did not start');
        const { problems } = await settle();
        let failure: unknown;
        try {
          await world.bystanderCheck(group.name);
        } catch (err) {
          failure = err;
        }
        const leaks = closeAll();
        const errors = [
          ...(problems.length ? [`the target broke: ${problems.join('; ')}`] : []),
          ...(leaks.length ? [`cross-tenant data seen: ${describeLeaks(leaks)}`] : []),
          ...(failure !== undefined ? [`bystanders: ${message(failure)}`] : []),
        ];
        record({
          kind: 'group',
          target: kind,
          group: group.name,
          healthy: errors.length === 0,
          crashed: problems.length > 0,
          leaked: leaks.length > 0,
          ...(errors.length && { error: errors.join(' | ') }),
        });
        if (errors.length) throw new Error(errors.join('\n'));
      }, 60_000);
    });
  }
}
