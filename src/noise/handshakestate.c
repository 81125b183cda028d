/*
 * handshakestate.c: Noise HandshakeState (spec section 5.3).
 *
 * Any failure moves the state to NOISE_HS_FAILED for good: a handshake is
 * never resumed after a bad message.
 */
#include <string.h>

#include "noise.h"

int noise_handshake_init(struct noise_handshake *hs, const char *protocol_name, bool initiator)
{
	memset(hs, 0, sizeof(*hs));
	hs->state = NOISE_HS_FAILED;
	if (noise_protocol_parse(protocol_name, &hs->proto) != 0)
		return -1;
	if (noise_symmetric_init(&hs->ss, protocol_name, hs->proto.cipher, hs->proto.hash) != 0)
		return -1;
	hs->initiator = initiator;
	hs->psk_mode = hs->proto.npsks > 0;
	hs->state = NOISE_HS_NEW;
	return 0;
}

int noise_handshake_set_local_static(struct noise_handshake *hs, const uint8_t *priv)
{
	if (hs->state != NOISE_HS_NEW || ns_dh_from_private(hs->proto.dh, priv, &hs->s) != 0)
		return -1;
	hs->has_s = true;
	return 0;
}

int noise_handshake_set_local_keypair(struct noise_handshake *hs, const struct ns_dh_keypair *kp)
{
	if (hs->state != NOISE_HS_NEW || kp->id != hs->proto.dh)
		return -1;
	hs->s = *kp;
	hs->has_s = true;
	hs->s_borrowed = true;
	return 0;
}

int noise_handshake_set_remote_static(struct noise_handshake *hs, const uint8_t *pub)
{
	if (hs->state != NOISE_HS_NEW)
		return -1;
	memcpy(hs->rs, pub, ns_dh_len(hs->proto.dh));
	hs->has_rs = true;
	return 0;
}

int noise_handshake_set_fixed_ephemeral(struct noise_handshake *hs, const uint8_t *priv)
{
	if (hs->state != NOISE_HS_NEW || ns_dh_from_private(hs->proto.dh, priv, &hs->e) != 0)
		return -1;
	hs->fixed_e = true;
	return 0;
}

int noise_handshake_add_psk(struct noise_handshake *hs, const uint8_t psk[NS_KEY_LEN])
{
	if (hs->state != NOISE_HS_NEW || hs->npsk_set >= NOISE_MAX_PSKS)
		return -1;
	memcpy(hs->psk[hs->npsk_set++], psk, NS_KEY_LEN);
	return 0;
}

static int hs_fail(struct noise_handshake *hs)
{
	hs->state = NOISE_HS_FAILED;
	return -1;
}

int noise_handshake_start(struct noise_handshake *hs, const uint8_t *prologue, size_t len)
{
	const struct noise_protocol *p = &hs->proto;
	size_t dhlen = ns_dh_len(p->dh);
	bool need_s = hs->initiator ? p->pre_initiator_s : p->pre_responder_s;
	bool need_rs = hs->initiator ? p->pre_responder_s : p->pre_initiator_s;

	if (hs->state != NOISE_HS_NEW || hs->npsk_set != p->npsks)
		return hs_fail(hs);
	if ((need_s && !hs->has_s) || (need_rs && !hs->has_rs))
		return hs_fail(hs);
	if (noise_symmetric_mix_hash(&hs->ss, prologue, len) != 0)
		return hs_fail(hs);
	/* Pre-messages: the initiator's key first, then the responder's. */
	if (p->pre_initiator_s &&
	    noise_symmetric_mix_hash(&hs->ss, hs->initiator ? hs->s.pub : hs->rs, dhlen) != 0)
		return hs_fail(hs);
	if (p->pre_responder_s &&
	    noise_symmetric_mix_hash(&hs->ss, hs->initiator ? hs->rs : hs->s.pub, dhlen) != 0)
		return hs_fail(hs);
	hs->state = NOISE_HS_RUNNING;
	return 0;
}

bool noise_handshake_my_turn(const struct noise_handshake *hs)
{
	return hs->state == NOISE_HS_RUNNING && ((hs->msg % 2 == 0) == hs->initiator);
}

size_t noise_handshake_message_len(const struct noise_handshake *hs, size_t plen)
{
	const struct noise_protocol *p = &hs->proto;
	size_t dhlen = ns_dh_len(p->dh), len = 0;
	bool keyed = hs->ss.cs.has_key;

	if (hs->state != NOISE_HS_RUNNING)
		return 0;
	for (int i = 0; i < p->ntokens[hs->msg]; i++) {
		switch (p->tokens[hs->msg][i]) {
		case NOISE_TOK_E:
			len += dhlen;
			keyed = keyed || hs->psk_mode;
			break;
		case NOISE_TOK_S:
			len += dhlen + (keyed ? NS_TAG_LEN : 0);
			break;
		default: /* DH and psk tokens all key the cipher */
			keyed = true;
			break;
		}
	}
	return len + plen + (keyed ? NS_TAG_LEN : 0);
}

/* The DH that a token names, from this side's point of view. */
static int hs_dh_token(struct noise_handshake *hs, uint8_t tok)
{
	uint8_t out[NS_DH_MAXLEN];
	const struct ns_dh_keypair *mine;
	const uint8_t *theirs;
	bool have;
	int rc;

	/* es: initiator's e with responder's s; se: initiator's s with
	 * responder's e.  From the responder's side the roles swap. */
	bool local_e = tok == NOISE_TOK_EE ||
	               (tok == NOISE_TOK_ES && hs->initiator) ||
	               (tok == NOISE_TOK_SE && !hs->initiator);
	bool remote_e = tok == NOISE_TOK_EE ||
	                (tok == NOISE_TOK_ES && !hs->initiator) ||
	                (tok == NOISE_TOK_SE && hs->initiator);

	mine = local_e ? &hs->e : &hs->s;
	theirs = remote_e ? hs->re : hs->rs;
	have = (local_e ? hs->has_e : hs->has_s) && (remote_e ? hs->has_re : hs->has_rs);
	if (!have || ns_dh(mine, theirs, out) != 0)
		return -1;
	rc = noise_symmetric_mix_key(&hs->ss, out, ns_dh_len(hs->proto.dh));
	ns_wipe(out, sizeof(out));
	return rc;
}

static int hs_psk_token(struct noise_handshake *hs)
{
	if (hs->npsk_used >= hs->npsk_set)
		return -1;
	return noise_symmetric_mix_key_and_hash(&hs->ss, hs->psk[hs->npsk_used++], NS_KEY_LEN);
}

static void hs_message_done(struct noise_handshake *hs)
{
	hs->msg++;
	if (hs->msg == hs->proto.nmessages)
		hs->state = NOISE_HS_DONE;
}

int noise_handshake_write(struct noise_handshake *hs, const uint8_t *payload, size_t plen,
                          uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t dhlen = ns_dh_len(hs->proto.dh), pos = 0, n;
	size_t need = noise_handshake_message_len(hs, plen);

	if (!noise_handshake_my_turn(hs) || need > outcap || need > NOISE_MAX_MSG_LEN)
		return hs_fail(hs);
	for (int i = 0; i < hs->proto.ntokens[hs->msg]; i++) {
		uint8_t tok = hs->proto.tokens[hs->msg][i];

		switch (tok) {
		case NOISE_TOK_E:
			if (hs->has_e || (!hs->fixed_e && ns_dh_generate(hs->proto.dh, &hs->e) != 0))
				return hs_fail(hs);
			hs->has_e = true;
			memcpy(out + pos, hs->e.pub, dhlen);
			pos += dhlen;
			if (noise_symmetric_mix_hash(&hs->ss, hs->e.pub, dhlen) != 0 ||
			    (hs->psk_mode && noise_symmetric_mix_key(&hs->ss, hs->e.pub, dhlen) != 0))
				return hs_fail(hs);
			break;
		case NOISE_TOK_S:
			if (!hs->has_s ||
			    noise_symmetric_encrypt_and_hash(&hs->ss, hs->s.pub, dhlen, out + pos, &n) != 0)
				return hs_fail(hs);
			pos += n;
			break;
		case NOISE_TOK_PSK:
			if (hs_psk_token(hs) != 0)
				return hs_fail(hs);
			break;
		default:
			if (hs_dh_token(hs, tok) != 0)
				return hs_fail(hs);
			break;
		}
	}
	if (noise_symmetric_encrypt_and_hash(&hs->ss, payload, plen, out + pos, &n) != 0)
		return hs_fail(hs);
	*outlen = pos + n;
	hs_message_done(hs);
	return 0;
}

int noise_handshake_read(struct noise_handshake *hs, const uint8_t *msg, size_t len,
                         uint8_t *out, size_t outcap, size_t *outlen)
{
	size_t dhlen = ns_dh_len(hs->proto.dh), pos = 0, n, slen;
	uint8_t spub[NS_DH_MAXLEN];

	if (hs->state != NOISE_HS_RUNNING || noise_handshake_my_turn(hs) ||
	    len > NOISE_MAX_MSG_LEN)
		return hs_fail(hs);
	for (int i = 0; i < hs->proto.ntokens[hs->msg]; i++) {
		uint8_t tok = hs->proto.tokens[hs->msg][i];

		switch (tok) {
		case NOISE_TOK_E:
			if (hs->has_re || len - pos < dhlen)
				return hs_fail(hs);
			memcpy(hs->re, msg + pos, dhlen);
			hs->has_re = true;
			pos += dhlen;
			if (noise_symmetric_mix_hash(&hs->ss, hs->re, dhlen) != 0 ||
			    (hs->psk_mode && noise_symmetric_mix_key(&hs->ss, hs->re, dhlen) != 0))
				return hs_fail(hs);
			break;
		case NOISE_TOK_S:
			slen = dhlen + (hs->ss.cs.has_key ? NS_TAG_LEN : 0);
			if (hs->has_rs || len - pos < slen ||
			    noise_symmetric_decrypt_and_hash(&hs->ss, msg + pos, slen, spub, &n) != 0)
				return hs_fail(hs);
			memcpy(hs->rs, spub, dhlen);
			hs->has_rs = true;
			pos += slen;
			break;
		case NOISE_TOK_PSK:
			if (hs_psk_token(hs) != 0)
				return hs_fail(hs);
			break;
		default:
			if (hs_dh_token(hs, tok) != 0)
				return hs_fail(hs);
			break;
		}
	}
	n = len - pos;
	if (hs->ss.cs.has_key && n < NS_TAG_LEN)
		return hs_fail(hs);
	if (n - (hs->ss.cs.has_key ? NS_TAG_LEN : 0) > outcap)
		return hs_fail(hs);
	if (noise_symmetric_decrypt_and_hash(&hs->ss, msg + pos, n, out, outlen) != 0)
		return hs_fail(hs);
	hs_message_done(hs);
	return 0;
}

int noise_handshake_split(struct noise_handshake *hs, struct noise_cipher *send,
                          struct noise_cipher *recv)
{
	if (hs->state != NOISE_HS_DONE)
		return -1;
	/* c1 carries initiator-to-responder traffic. */
	if (hs->initiator)
		return noise_symmetric_split(&hs->ss, send, recv);
	return noise_symmetric_split(&hs->ss, recv, send);
}

const uint8_t *noise_handshake_hash(const struct noise_handshake *hs, size_t *len)
{
	*len = hs->ss.hashlen;
	return hs->ss.h;
}

const uint8_t *noise_handshake_remote_static(const struct noise_handshake *hs)
{
	return hs->has_rs ? hs->rs : NULL;
}

void noise_handshake_free(struct noise_handshake *hs)
{
	noise_symmetric_free(&hs->ss);
	ns_dh_keypair_free(&hs->e);
	if (!hs->s_borrowed)
		ns_dh_keypair_free(&hs->s);
	ns_wipe(hs, sizeof(*hs));
	hs->state = NOISE_HS_FAILED;
}
