/*
 * test_noise_vectors: every vector of the cacophony and snow files
 * whose protocol the Noise core supports, run as both initiator and
 * responder: each handshake and transport ciphertext, each decrypted payload
 * and the final handshake hash must match.  The files are test data in
 * tests/vectors/noise/ (ORIGIN.md there says where they come from).
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "../../src/noise/noise.h"
#include "tap.h"

#define VEC_MAX 4096

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		buf = malloc((size_t)len + 1);
		if (buf != NULL && fread(buf, 1, (size_t)len, f) == (size_t)len)
			buf[len] = '\0';
		else {
			free(buf);
			buf = NULL;
		}
	}
	fclose(f);
	return buf;
}

/* Hex field of a vector into buf; -1 if absent or malformed. */
static int hexfield(const cJSON *v, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, name);
	const char *s;
	size_t n;

	if (!cJSON_IsString(f))
		return -1;
	s = f->valuestring;
	n = strlen(s);
	if (n % 2 != 0 || n / 2 > cap)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned int b;
		if (sscanf(s + 2 * i, "%2x", &b) != 1)
			return -1;
		buf[i] = (uint8_t)b;
	}
	*len = n / 2;
	return 0;
}

static int setup(struct noise_handshake *hs, const cJSON *v, const char *name, bool init)
{
	const char *side = init ? "init_" : "resp_";
	char key[64];
	uint8_t buf[VEC_MAX];
	size_t len;
	const cJSON *psks, *psk;

	if (noise_handshake_init(hs, name, init) != 0)
		return -1;
	snprintf(key, sizeof(key), "%sstatic", side);
	if (hexfield(v, key, buf, sizeof(buf), &len) == 0 &&
	    noise_handshake_set_local_static(hs, buf) != 0)
		return -1;
	snprintf(key, sizeof(key), "%sremote_static", side);
	if (hexfield(v, key, buf, sizeof(buf), &len) == 0 &&
	    noise_handshake_set_remote_static(hs, buf) != 0)
		return -1;
	snprintf(key, sizeof(key), "%sephemeral", side);
	if (hexfield(v, key, buf, sizeof(buf), &len) == 0 &&
	    noise_handshake_set_fixed_ephemeral(hs, buf) != 0)
		return -1;
	snprintf(key, sizeof(key), "%spsks", side);
	psks = cJSON_GetObjectItemCaseSensitive(v, key);
	cJSON_ArrayForEach(psk, psks) {
		size_t i, n = strlen(cJSON_IsString(psk) ? psk->valuestring : "");
		if (n != 2 * NS_KEY_LEN)
			return -1;
		for (i = 0; i < NS_KEY_LEN; i++) {
			unsigned int b;
			if (sscanf(psk->valuestring + 2 * i, "%2x", &b) != 1)
				return -1;
			buf[i] = (uint8_t)b;
		}
		if (noise_handshake_add_psk(hs, buf) != 0)
			return -1;
	}
	snprintf(key, sizeof(key), "%sprologue", side);
	if (hexfield(v, key, buf, sizeof(buf), &len) != 0)
		len = 0;
	return noise_handshake_start(hs, buf, len);
}

/* Runs one vector; returns NULL on success or a description of the failure. */
static const char *run_vector(const cJSON *v, const char *name)
{
	struct noise_handshake ini, res;
	struct noise_cipher isend, irecv, rsend, rrecv;
	bool split = false;
	const char *err = NULL;
	const cJSON *msgs, *m;
	uint8_t payload[VEC_MAX], expect[VEC_MAX], out[VEC_MAX], got[VEC_MAX];
	size_t plen, elen, olen, glen, hlen1, hlen2;
	int i = 0;

	if (setup(&ini, v, name, true) != 0 || setup(&res, v, name, false) != 0) {
		err = "setup";
		goto out;
	}
	msgs = cJSON_GetObjectItemCaseSensitive(v, "messages");
	cJSON_ArrayForEach(m, msgs) {
		bool from_init = ini.proto.one_way || i % 2 == 0;

		if (hexfield(m, "payload", payload, sizeof(payload), &plen) != 0 ||
		    hexfield(m, "ciphertext", expect, sizeof(expect), &elen) != 0) {
			err = "malformed message";
			goto out;
		}
		if (!split && ini.state == NOISE_HS_RUNNING) {
			struct noise_handshake *w = from_init ? &ini : &res, *r = from_init ? &res : &ini;
			if (noise_handshake_write(w, payload, plen, out, sizeof(out), &olen) != 0) {
				err = "handshake write";
				goto out;
			}
			if (olen != elen || memcmp(out, expect, elen) != 0) {
				err = "handshake ciphertext differs";
				goto out;
			}
			if (noise_handshake_read(r, out, olen, got, sizeof(got), &glen) != 0 ||
			    glen != plen || memcmp(got, payload, plen) != 0) {
				err = "handshake read";
				goto out;
			}
		} else {
			struct noise_cipher *w, *r;
			if (!split) {
				if (ini.state != NOISE_HS_DONE || res.state != NOISE_HS_DONE ||
				    noise_handshake_split(&ini, &isend, &irecv) != 0 ||
				    noise_handshake_split(&res, &rsend, &rrecv) != 0) {
					err = "split";
					goto out;
				}
				split = true;
			}
			w = from_init ? &isend : &rsend;
			r = from_init ? &rrecv : &irecv;
			if (noise_cipher_encrypt_ad(w, NULL, 0, payload, plen, out, &olen) != 0 ||
			    olen != elen || memcmp(out, expect, elen) != 0) {
				err = "transport ciphertext differs";
				goto out;
			}
			if (noise_cipher_decrypt_ad(r, NULL, 0, out, olen, got, &glen) != 0 ||
			    glen != plen || memcmp(got, payload, plen) != 0) {
				err = "transport decrypt";
				goto out;
			}
		}
		i++;
	}
	if (ini.state != NOISE_HS_DONE || res.state != NOISE_HS_DONE) {
		err = "handshake not finished";
		goto out;
	}
	if (hexfield(v, "handshake_hash", expect, sizeof(expect), &elen) == 0) {
		const uint8_t *h1 = noise_handshake_hash(&ini, &hlen1);
		const uint8_t *h2 = noise_handshake_hash(&res, &hlen2);
		if (hlen1 != elen || memcmp(h1, expect, elen) != 0 || memcmp(h2, expect, elen) != 0)
			err = "handshake hash differs";
	}
out:
	if (split) {
		noise_cipher_free(&isend);
		noise_cipher_free(&irecv);
		noise_cipher_free(&rsend);
		noise_cipher_free(&rrecv);
	}
	noise_handshake_free(&ini);
	noise_handshake_free(&res);
	return err;
}

static void run_file(const char *dir, const char *file, int *checked, int *skipped,
                     int *wanted)
{
	char path[4096];
	char *text;
	cJSON *root, *v;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	text = read_file(path);
	root = text ? cJSON_Parse(text) : NULL;
	if (!ok(root != NULL, "read and parse %s", path)) {
		free(text);
		return;
	}
	cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(root, "vectors")) {
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(v, "protocol_name");
		struct noise_protocol p;
		const char *err;

		if (!cJSON_IsString(n) || noise_protocol_parse(n->valuestring, &p) != 0) {
			(*skipped)++;
			diag("skip %s (%s)", file, cJSON_IsString(n) ? n->valuestring : "?");
			continue;
		}
		err = run_vector(v, n->valuestring);
		ok(err == NULL, "%s %s%s%s", file, n->valuestring, err ? ": " : "", err ? err : "");
		(*checked)++;
		/* The suites the issue names must all be among the checked. */
		if (p.dh == NS_DH_25519 && p.hash == NS_HASH_SHA256 &&
		    (strncmp(p.name, "Noise_XX_", 9) == 0 || strncmp(p.name, "Noise_XXpsk", 11) == 0))
			(*wanted)++;
	}
	cJSON_Delete(root);
	free(text);
}

int main(void)
{
	const char *dir = getenv("NS_VECTORS_DIR");
	int checked = 0, skipped = 0, wanted = 0;

	/* make runs the tests from the top of the tree. */
	if (dir == NULL)
		dir = "tests/vectors/noise";
	run_file(dir, "cacophony.txt", &checked, &skipped, &wanted);
	run_file(dir, "snow.txt", &checked, &skipped, &wanted);
	diag("noise vectors: %d checked, %d skipped; %d of them XX/XXpskN over 25519/SHA256",
	     checked, skipped, wanted);
	ok(checked > 50 && wanted >= 12, "well over 50 vectors checked (%d), XX family covered (%d)",
	   checked, wanted);
	return tap_done();
}
