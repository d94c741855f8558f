// Raw gateway frames for tests that speak the wire protocol directly (a wallet or producer doing what
// the libraries never would, or an attacker with Redis access). Built with the same functions as the
// libraries (actors/gateway/frame-auth.ts), so a frame made here with a credential is exactly what the
// genuine holder would send.
import { randomUUID } from 'node:crypto';
import type { Credential } from '../../actors/credential.js';
import { GW_LABEL, frameKey, helloMac, requestMac, seal, unseal, verifySealed } from '../../actors/gateway/frame-auth.js';
import { PROTOCOL, type ConnFrame, type JsonValue, type Op, type RequestFrame, type WalletKind } from '../../actors/gateway/frames.js';

export { walletWire } from '../../actors/gateway/node-auth.js';

/** A producer request as GatewayClient sends it: with the JWT and MAC of `cred` when given. */
export function requestFrame(
  cred: Credential | undefined,
  f: { id?: string; op: Op; reply: string; deadline: number; args: Record<string, JsonValue> },
): RequestFrame {
  const frame: RequestFrame = { v: PROTOCOL, id: f.id ?? randomUUID(), op: f.op, reply: f.reply, deadline: f.deadline, args: f.args };
  if (cred) {
    frame.jwt = cred.jwt;
    frame.mac = requestMac(cred.requestKey, frame);
  }
  return frame;
}

/** A hello (round 0) or add (round ≥ 1) frame, with the JWT and MAC of `cred` when given. */
export function helloFrame(
  cred: Credential | undefined,
  f: { conn: string; kind?: WalletKind; nonce: string; targets: string[]; round?: number },
): Extract<ConnFrame, { t: 'hello' | 'add' }> {
  const kind = f.kind ?? 'wallet';
  const round = f.round ?? 0;
  const auth = cred ? { jwt: cred.jwt, mac: helloMac(cred.requestKey, { conn: f.conn, kind, nonce: f.nonce, round, targets: f.targets }) } : {};
  return round === 0
    ? { t: 'hello', conn: f.conn, kind, nonce: f.nonce, targets: f.targets, ...auth }
    : { t: 'add', conn: f.conn, kind, nonce: f.nonce, targets: f.targets, round, ...auth };
}

/** A connection's frame key as its wallet derives it (round 0's nonces). */
export function connFrameKey(cred: Credential, conn: string, walletNonce: Uint8Array, gatewayNonceHex: string): Uint8Array {
  return frameKey(cred.requestKey, conn, walletNonce, Buffer.from(gatewayNonceHex, 'hex'));
}

/** A frame to the gateway (a proof, an answer) sealed under the connection's frame key. */
export function sealForGateway(fk: Uint8Array, conn: string, frame: object): string {
  return seal(fk, GW_LABEL.walletReply, conn, JSON.stringify(frame));
}

/** Whether a message from a node to a wallet is sealed under `fk` for `conn`. */
export function sealedFor(fk: Uint8Array, conn: string, raw: string): boolean {
  const s = unseal(raw);
  return s !== null && verifySealed(fk, GW_LABEL.walletFrame, conn, s);
}

/** Whether a node's answer to producer request `id` is sealed under `requestKey`. */
export function responseSealed(requestKey: Uint8Array, id: string, raw: string): boolean {
  const s = unseal(raw);
  return s !== null && verifySealed(requestKey, GW_LABEL.response, id, s);
}
