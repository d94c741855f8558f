// The wallet's (and proof worker's) side of frame authentication (frame-auth.ts), when it holds a
// credential. Its hellos carry its JWT and a MAC under its request key; every frame from the gateway
// must be sealed under the connection's frame key, unexpired and new, or it is refused; its own
// frames to the gateway (proofs, answers) are sealed under the same key.
//
// The frame key depends on the gatewayNonce of round 0, which the node chooses: a round-0 frame names
// it, the key is derived from it and the frame's MAC checked with that key. Someone without the
// request key cannot make a MAC for any nonce, so the first frame that verifies fixes the key.
import { HwayError } from '../../errors.js';
import { parseCredential, type Credential } from '../credential.js';
import { GW_LABEL, ReplayGuard, frameKey, helloMac, seal, unseal, verifySealed, type HelloMacFields } from './frame-auth.js';
import { isHex32, parseJson, parseToWallet, type ToWalletFrame } from './frames.js';

/** A frame that may be acted on, or why it may not (for one log line; never a secret). */
export type Opened = { frame: ToWalletFrame } | { refused: string };

export class WalletFrameAuth {
  private fk: Uint8Array | undefined;
  private conn = '';
  private walletNonce: Uint8Array = new Uint8Array(0);
  private readonly seen = new ReplayGuard(50_000);

  private constructor(private readonly cred: Credential) {}

  /** Undefined without a credential (a gateway without auth); E_UNAUTHORIZED for a malformed one. */
  static of(credential: string | undefined): WalletFrameAuth | undefined {
    return credential ? new WalletFrameAuth(parseCredential(credential)) : undefined;
  }

  /** A new connection: its id and round 0's wallet nonce. Its frame key comes with its first frame. */
  begin(conn: string, walletNonce: Uint8Array): void {
    this.conn = conn;
    this.walletNonce = walletNonce;
    this.fk = undefined;
  }

  /** The `jwt` and `mac` fields of a hello or add frame. */
  hello(f: HelloMacFields): { jwt: string; mac: string } {
    return { jwt: this.cred.jwt, mac: helloMac(this.cred.requestKey, f) };
  }

  /** A frame to the gateway (a proof, an answer), sealed under the connection's frame key. */
  seal(json: string): string {
    if (!this.fk) throw new HwayError('E_INTERNAL', 'no frame key yet: the gateway has not answered the hello');
    return seal(this.fk, GW_LABEL.walletReply, this.conn, json);
  }

  /**
   * Checks a frame from the gateway. Only an unsealed E_UNAUTHORIZED error of a handshake round that is
   * waiting passes without a MAC: the node could not verify our JWT, so it has no key to seal with
   * (someone else can send that too, which only ends the handshake: a denial of service).
   */
  open(raw: string, waiting: (round: number) => boolean): Opened {
    const s = unseal(raw);
    if (!s) {
      let f: ToWalletFrame;
      try {
        f = parseToWallet(parseJson(raw));
      } catch {
        return { refused: 'malformed and without a MAC' };
      }
      if (f.t === 'error' && f.code === 'E_UNAUTHORIZED' && f.round !== undefined && waiting(f.round)) return { frame: f };
      return { refused: 'no MAC' };
    }
    let obj: unknown;
    try {
      obj = parseJson(s.json);
    } catch {
      return { refused: 'malformed' };
    }
    let key = this.fk;
    if (!key) {
      const o = obj as { round?: unknown; gatewayNonce?: unknown };
      if (o.round === 0 && typeof o.gatewayNonce === 'string' && isHex32(o.gatewayNonce)) {
        key = frameKey(this.cred.requestKey, this.conn, this.walletNonce, Buffer.from(o.gatewayNonce, 'hex'));
      }
    }
    if (!key || !verifySealed(key, GW_LABEL.walletFrame, this.conn, s)) return { refused: 'MAC does not verify' };
    let f: ToWalletFrame;
    try {
      f = parseToWallet(obj);
    } catch {
      return { refused: 'malformed' };
    }
    const now = Date.now();
    const until = f.t === 'sign' || f.t === 'proof' ? f.deadline : f.exp;
    if (until === undefined) return { refused: 'no deadline' };
    if (until <= now) return { refused: 'past its deadline' };
    if (!this.seen.admit(s.mac, until, now)) return { refused: 'replayed' };
    this.fk = key;
    return { frame: f };
  }
}
