// Everything logic sends down to clients goes through here: answers to the caller, notices and
// pushes to every route of a set of users, one downstream batch per gate (DownstreamBatcher).

import type { ImError } from '../../protocol/errors.js';
import { encodeFrameBody, errorFrame, type FrameInit } from '../../protocol/frame-codec.js';
import type { Route, Routes } from '../ports/routes.js';
import type { Metrics } from '../shared/metrics.js';
import type { Caller } from './caller.js';
import type { DeliveryOptions, DownstreamBatcher } from './downstream-batcher.js';

export class Replies {
  constructor(
    private readonly downstream: DownstreamBatcher,
    private readonly routes: Routes,
    private readonly metrics: Metrics,
  ) {}

  /** One frame to the connection that asked. */
  reply(c: Caller, frame: FrameInit, opts: DeliveryOptions = {}): void {
    this.downstream.add(c.gateId, [c.connId], encodeFrameBody(frame), { traceId: c.traceId, appId: c.appId, ...opts });
  }

  /** An Error frame to the connection that asked; a fatal error closes it. */
  error(c: Caller, reqId: number, err: ImError, opts: DeliveryOptions = {}): void {
    this.metrics.errors.inc({ code: err.code, role: 'logic' });
    this.reply(c, errorFrame(err, reqId), { closeAfter: err.fatal, ...opts });
  }

  /** An encoded frame to one connection on its gate (a kick: the caller displaces it). */
  toConnection(c: Caller, route: Route, frame: Uint8Array, opts: DeliveryOptions): void {
    this.downstream.add(route.gateId, [route.connId], frame, { traceId: c.traceId, appId: c.appId, ...opts });
  }

  /** One frame to every connection of `users`, except the caller's; how many connections it went to. */
  async toUsers(c: Caller, users: string[], frame: FrameInit, opts: DeliveryOptions = {}): Promise<number> {
    return this.toRoutes(c, await this.routes.listMany(c.appId, users), frame, opts);
  }

  /** One frame to every route found for a set of users, except the caller's connection. */
  toRoutes(c: Caller, routes: Map<string, Route[]>, frame: FrameInit | Uint8Array, opts: DeliveryOptions = {}): number {
    // An encoded frame is passed on as it is (a group's fan-out encodes its push once for every page).
    const bytes = frame instanceof Uint8Array ? frame : encodeFrameBody(frame);
    const byGate = new Map<string, string[]>();
    for (const list of routes.values()) {
      for (const r of list) {
        if (r.connId === c.connId) continue;
        let conns = byGate.get(r.gateId);
        if (!conns) byGate.set(r.gateId, (conns = []));
        conns.push(r.connId);
      }
    }
    let n = 0;
    for (const [gateId, conns] of byGate) {
      this.downstream.add(gateId, conns, bytes, { traceId: c.traceId, appId: c.appId, ...opts });
      n += conns.length;
    }
    return n;
  }
}
