/*
 * record.c: the record layer.
 *
 * A record is a sealed 3-byte header (type, payload length) followed by the
 * sealed payload, each with its own tag and its own nonce of the direction's
 * CipherState.  The length is never in clear and is authenticated before a
 * single payload byte is read, so a receiver neither waits on a forged
 * length nor releases anything unauthenticated.
 */
#include <string.h>

#include "proto.h"

static int dir_fail(struct ns_record_dir *d, int err)
{
	d->state = NS_DIR_FAILED;
	return err;
}

/* Deterministic rekey at fixed nonce counts, before the nonce is used. */
static int dir_maybe_rekey(struct ns_record_dir *d)
{
	if (d->cs.n != 0 && d->cs.n % NS_REKEY_NONCES == 0)
		return noise_cipher_rekey(&d->cs);
	return 0;
}

static int dir_seal(struct ns_record_dir *d, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t outlen;

	if (dir_maybe_rekey(d) != 0)
		return -1;
	return noise_cipher_encrypt_ad(&d->cs, NULL, 0, in, len, out, &outlen);
}

static int dir_open(struct ns_record_dir *d, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t outlen;

	if (dir_maybe_rekey(d) != 0)
		return -1;
	return noise_cipher_decrypt_ad(&d->cs, NULL, 0, in, len, out, &outlen);
}

int ns_record_seal(struct ns_record_dir *tx, uint8_t type, const uint8_t *payload,
                   size_t plen, uint8_t *out)
{
	uint8_t hdr[3];

	if (tx->state != NS_DIR_OPEN || plen > NS_RECORD_MAX ||
	    (type != NS_RECORD_CLOSE && plen == 0) || (type == NS_RECORD_CLOSE && plen != 0) ||
	    (type != NS_RECORD_DATA && type != NS_RECORD_CLOSE && type != NS_RECORD_PROOF))
		return dir_fail(tx, NS_ERR_PROTO);
	hdr[0] = type;
	hdr[1] = (uint8_t)(plen >> 8);
	hdr[2] = (uint8_t)plen;
	/* The header goes to out[0..HDR); the body is sealed where the payload
	 * is, in place when the caller put it at out + NS_RECORD_HDR_LEN. */
	if (dir_seal(tx, hdr, sizeof(hdr), out) != 0 ||
	    dir_seal(tx, payload, plen, out + NS_RECORD_HDR_LEN) != 0)
		return dir_fail(tx, NS_ERR_INTERNAL);
	if (type == NS_RECORD_CLOSE)
		tx->state = NS_DIR_CLOSED;
	return NS_OK;
}

static int open_header(struct ns_record_dir *rx, const uint8_t *buf)
{
	uint8_t hdr[3];
	size_t len;

	if (dir_open(rx, buf, NS_RECORD_HDR_LEN, hdr) != 0)
		return NS_ERR_AUTH;
	len = (size_t)hdr[1] << 8 | hdr[2];
	if ((hdr[0] != NS_RECORD_CLOSE && len == 0) || (hdr[0] == NS_RECORD_CLOSE && len != 0) ||
	    (hdr[0] != NS_RECORD_DATA && hdr[0] != NS_RECORD_CLOSE && hdr[0] != NS_RECORD_PROOF))
		return NS_ERR_PROTO;
	rx->body_type = hdr[0];
	rx->body_len = (uint16_t)len;
	rx->state = NS_DIR_BODY;
	return NS_OK;
}

int ns_record_open(struct ns_record_dir *rx, uint8_t *buf, size_t avail, size_t *consumed,
                   uint8_t **payload, size_t *plen, uint8_t *type)
{
	size_t need;
	int err;

	*consumed = NS_RECORD_HDR_LEN;
	if (rx->state == NS_DIR_CLOSED)
		return avail == 0 ? 0 : dir_fail(rx, NS_ERR_PROTO); /* data after close */
	if (rx->state == NS_DIR_FAILED)
		return NS_ERR_PROTO;
	if (rx->state == NS_DIR_OPEN) {
		if (avail < NS_RECORD_HDR_LEN)
			return 0;
		if ((err = open_header(rx, buf)) != NS_OK)
			return dir_fail(rx, err);
	}
	need = ns_record_wire_len(rx->body_len);
	*consumed = need;
	if (avail < need)
		return 0;
	if (dir_open(rx, buf + NS_RECORD_HDR_LEN, rx->body_len + NS_TAG_LEN,
	             buf + NS_RECORD_HDR_LEN) != 0)
		return dir_fail(rx, NS_ERR_AUTH);
	*payload = buf + NS_RECORD_HDR_LEN;
	*plen = rx->body_len;
	*type = rx->body_type;
	rx->state = rx->body_type == NS_RECORD_CLOSE ? NS_DIR_CLOSED : NS_DIR_OPEN;
	return 1;
}

int ns_record_eof(struct ns_record_dir *rx)
{
	if (rx->state == NS_DIR_CLOSED)
		return NS_OK;
	return dir_fail(rx, rx->state == NS_DIR_FAILED ? NS_ERR_PROTO : NS_ERR_TRUNCATED);
}

void ns_session_free(struct ns_session *s)
{
	noise_cipher_free(&s->tx.cs);
	noise_cipher_free(&s->rx.cs);
	ns_wipe(s, sizeof(*s));
	s->tx.state = s->rx.state = NS_DIR_FAILED;
}
