/* The exports of the vault enclave (ABI.md, "Exports"). */
#include "plugin.h"

#include <stdlib.h>

#include "config.h"
#include "extism.h"
#include "keys.h"
#include "seal.h"
#include "secure.h"
#include "status.h"

static size_t g_used; /* bytes of res->buf handed out; reset per call */

uint8_t *result_add(result_t *res, const uint8_t *p, size_t len) {
    uint8_t *dst;
    if (res->n >= FRAME_MAX_FIELDS || len > sizeof(res->buf) - g_used) return NULL;
    dst = res->buf + g_used;
    if (p != NULL && len > 0) memcpy(dst, p, len);
    g_used += len;
    res->f[res->n].ptr = dst;
    res->f[res->n].len = len;
    res->n++;
    return dst;
}

void result_add_ref(result_t *res, const uint8_t *p, size_t len) {
    if (res->n >= FRAME_MAX_FIELDS) return;
    res->f[res->n].ptr = p;
    res->f[res->n].len = len;
    res->n++;
}

/* Overwrites the stack area below the caller that the operation just used, so that
 * intermediate values left there by the crypto code (libsecp256k1, SHA-256 rounds,
 * ChaCha20 state) do not outlive the call. */
__attribute__((noinline)) static void scrub_stack(void) {
    uint8_t area[32768];
    secure_zero(area, sizeof(area));
}

int32_t run_export(unsigned count, op_fn op) {
    frame_in_t in;
    result_t res;
    int rc;
    memset(&res, 0, sizeof(res));
    g_used = 0;
    keys_take_error();
    rc = frame_in_read(&in, count);
    if (rc == HW_OK) rc = op(in.f, &res);
    if (keys_take_error()) rc = E_INTERNAL;
    if (rc == HW_OK) frame_out_ok(res.f, res.n);
    else frame_out_status(rc);
    if (res.heap != NULL) {
        secure_zero(res.heap, res.heaplen);
        free(res.heap);
    }
    secure_zero(&res, sizeof(res));
    frame_in_free(&in);
    scrub_stack();
    return 0;
}

/* The vault id and account fields of a request (ABI.md, "Sealed vault data"): the account is the one
 * the host verified for the request, and a v2 seal opens only for it. */
static int read_binding(const field_t *vid, const field_t *acct, binding_t *b) {
    if (vid->len < 1 || vid->len > VAULT_ID_MAX || acct->len < 1 || acct->len > ACCOUNT_MAX) return E_BAD_INPUT;
    b->vid = vid->ptr;
    b->vidlen = vid->len;
    b->acct = acct->ptr;
    b->acctlen = acct->len;
    return HW_OK;
}

static int check_password(const field_t *f) {
    return (f->len >= 1 && f->len <= PASSWORD_MAX) ? HW_OK : E_BAD_INPUT;
}

/* Opens sealed data and checks the key inside; E_CORRUPT when it is not a valid key. */
static int open_sealed(const field_t *sealed, const binding_t *b, uint8_t sk[32], uint32_t *epoch) {
    uint32_t key_id;
    int rc = vault_open(sealed->ptr, sealed->len, b, sk, &key_id, epoch), valid = 0;
    if (rc != HW_OK) return rc;
    rc = keys_seckey_valid(sk, &valid);
    if (rc == HW_OK && !valid) rc = E_CORRUPT;
    if (rc != HW_OK) secure_zero(sk, 32);
    return rc;
}

/* info: - -> name, ABI version, current key id (or 0 bytes). */
static int op_info(const field_t *in, result_t *res) {
    static const char name[] = "hway-vault";
    uint8_t ver = ABI_VERSION, id[4];
    int rc = config_load();
    (void)in;
    if (rc == E_NO_MEMORY) return rc;
    result_add(res, (const uint8_t *)name, sizeof(name) - 1);
    result_add(res, &ver, 1);
    if (rc == HW_OK) {
        store32_le(id, config_current_id());
        result_add(res, id, 4);
    } else {
        result_add(res, NULL, 0);
    }
    return HW_OK;
}

/* generate: vault id, account -> sealed, public key. */
static int op_generate(const field_t *in, result_t *res) {
    uint8_t sk[32], *sealed, *pub;
    binding_t b;
    int rc;
    if ((rc = read_binding(&in[0], &in[1], &b)) != HW_OK) return rc;
    if ((rc = config_load()) != HW_OK) return rc;
    sealed = result_add(res, NULL, SEALED_LEN);
    pub = result_add(res, NULL, 33);
    if (sealed == NULL || pub == NULL) return E_INTERNAL;
    rc = keys_generate(sk);
    if (rc == HW_OK) rc = keys_pubkey(sk, pub);
    if (rc == E_INVALID_KEY) rc = E_INTERNAL;
    if (rc == HW_OK) rc = vault_seal(config_current_id(), 0, &b, sk, sealed);
    secure_zero(sk, sizeof(sk));
    return rc;
}

/* sign: sealed, vault id, account, digest -> signature, recovery id. */
static int op_sign(const field_t *in, result_t *res) {
    uint8_t sk[32], *sig, *rec;
    uint32_t epoch;
    binding_t b;
    int rc;
    if ((rc = read_binding(&in[1], &in[2], &b)) != HW_OK) return rc;
    if (in[3].len != 32) return E_BAD_INPUT;
    if ((rc = config_load()) != HW_OK) return rc;
    sig = result_add(res, NULL, 64);
    rec = result_add(res, NULL, 1);
    if (sig == NULL || rec == NULL) return E_INTERNAL;
    rc = open_sealed(&in[0], &b, sk, &epoch);
    if (rc == HW_OK) rc = keys_sign(sk, in[3].ptr, sig, rec);
    if (rc == E_INVALID_KEY) rc = E_CORRUPT;
    secure_zero(sk, sizeof(sk));
    return rc;
}

/* verify: public key, digest, signature, flags -> valid. */
static int op_verify(const field_t *in, result_t *res) {
    uint8_t v;
    int valid = 0, rc;
    if (in[1].len != 32) return E_BAD_INPUT;
    if (in[3].len != 1 || (in[3].ptr[0] & ~(VERIFY_FLAG_ALLOW_HIGH_S | VERIFY_FLAG_DER)) != 0)
        return E_BAD_INPUT;
    rc = keys_verify(in[0].ptr, in[0].len, in[1].ptr, in[2].ptr, in[2].len, in[3].ptr[0], &valid);
    if (rc != HW_OK) return rc;
    v = valid ? 1 : 0;
    result_add(res, &v, 1);
    return HW_OK;
}

/* refresh: sealed (v1 or v2), vault id, account -> sealed (v2: current key, epoch + 1, bound to the
 * account), public key, epoch. A v1 seal opens for any account, so its refresh binds it to the
 * account the host passes (ABI.md: the record's, which it then cannot change). */
static int op_refresh(const field_t *in, result_t *res) {
    uint8_t sk[32], *sealed, *pub, *ep;
    uint32_t epoch = 0;
    binding_t b;
    int rc;
    if ((rc = read_binding(&in[1], &in[2], &b)) != HW_OK) return rc;
    if ((rc = config_load()) != HW_OK) return rc;
    sealed = result_add(res, NULL, SEALED_LEN);
    pub = result_add(res, NULL, 33);
    ep = result_add(res, NULL, 4);
    if (sealed == NULL || pub == NULL || ep == NULL) return E_INTERNAL;
    rc = open_sealed(&in[0], &b, sk, &epoch);
    if (rc == HW_OK && epoch == 0xffffffffu) rc = E_INTERNAL;
    if (rc == HW_OK) rc = keys_pubkey(sk, pub);
    if (rc == E_INVALID_KEY) rc = E_CORRUPT;
    if (rc == HW_OK) rc = vault_seal(config_current_id(), epoch + 1, &b, sk, sealed);
    if (rc == HW_OK) store32_le(ep, epoch + 1);
    secure_zero(sk, sizeof(sk));
    return rc;
}

/* export: sealed, vault id, account, password -> envelope (v2, 117 + vault id length bytes). The
 * envelope names the vault, not the account: an import binds the key to the importer's account. */
static int op_export(const field_t *in, result_t *res) {
    uint8_t sk[32], *env;
    uint32_t epoch;
    binding_t b;
    int rc;
    if ((rc = read_binding(&in[1], &in[2], &b)) != HW_OK) return rc;
    if ((rc = check_password(&in[3])) != HW_OK) return rc;
#ifdef HWAY_TEST_EXPORTS
    /* Test build only: an export that really never finishes, for the host's timeout tests. */
    if (in[3].len == sizeof T_SPIN_PASSWORD - 1 && memcmp(in[3].ptr, T_SPIN_PASSWORD, in[3].len) == 0) t_spin();
#endif
    /* New envelopes need a password of at least 12 bytes (imports of old ones accept any). */
    if (in[3].len < EXPORT_PASSWORD_MIN) return E_BAD_INPUT;
    if ((rc = config_load()) != HW_OK) return rc;
    env = result_add(res, NULL, ENV2_LEN(in[1].len));
    if (env == NULL) return E_INTERNAL;
    rc = open_sealed(&in[0], &b, sk, &epoch);
    if (rc == HW_OK) rc = envelope_export(sk, in[1].ptr, in[1].len, in[3].ptr, in[3].len, env);
    secure_zero(sk, sizeof(sk));
    return rc;
}

/* import: envelope (v1 or v2), password, vault id, account -> sealed (v2, epoch 0, bound to the
 * account), public key, the exporter's vault id (v2; 0 bytes for v1). */
static int op_import(const field_t *in, result_t *res) {
    uint8_t sk[32], *sealed, *pub;
    const uint8_t *src = NULL;
    size_t srclen = 0;
    binding_t b;
    int rc, valid = 0;
    if ((rc = check_password(&in[1])) != HW_OK) return rc;
    if ((rc = read_binding(&in[2], &in[3], &b)) != HW_OK) return rc;
    if ((rc = config_load()) != HW_OK) return rc;
    sealed = result_add(res, NULL, SEALED_LEN);
    pub = result_add(res, NULL, 33);
    if (sealed == NULL || pub == NULL) return E_INTERNAL;
    rc = envelope_import(in[0].ptr, in[0].len, in[1].ptr, in[1].len, sk, &src, &srclen);
    if (rc == HW_OK) rc = keys_seckey_valid(sk, &valid);
    if (rc == HW_OK && !valid) rc = E_INVALID_KEY;
    if (rc == HW_OK) rc = keys_pubkey(sk, pub);
    if (rc == HW_OK) rc = vault_seal(config_current_id(), 0, &b, sk, sealed);
    if (rc == HW_OK && result_add(res, src, srclen) == NULL) rc = E_INTERNAL;
    secure_zero(sk, sizeof(sk));
    return rc;
}

/* check_seal: sealed, vault id, account -> nothing. Opens the seal exactly as sign does, with the same
 * errors, and discards the key: for host operations that use no key but must not run for another
 * account than the seal's (the vault actor's info and delete). */
static int op_check_seal(const field_t *in, result_t *res) {
    uint8_t sk[32];
    uint32_t epoch;
    binding_t b;
    int rc;
    (void)res;
    if ((rc = read_binding(&in[1], &in[2], &b)) != HW_OK) return rc;
    if ((rc = config_load()) != HW_OK) return rc;
    rc = open_sealed(&in[0], &b, sk, &epoch);
    secure_zero(sk, sizeof(sk));
    return rc;
}

EXPORT("info") int32_t x_info(void) { return run_export(0, op_info); }
EXPORT("generate") int32_t x_generate(void) { return run_export(2, op_generate); }
EXPORT("sign") int32_t x_sign(void) { return run_export(4, op_sign); }
EXPORT("verify") int32_t x_verify(void) { return run_export(4, op_verify); }
EXPORT("refresh") int32_t x_refresh(void) { return run_export(3, op_refresh); }
EXPORT("export") int32_t x_export(void) { return run_export(4, op_export); }
EXPORT("import") int32_t x_import(void) { return run_export(4, op_import); }
EXPORT("check_seal") int32_t x_check_seal(void) { return run_export(3, op_check_seal); }
