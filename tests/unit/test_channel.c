/*
 * test_channel: two nodeseal endpoints over a socketpair, each in its own
 * thread, handshake then 1 GiB (NS_CHANNEL_BYTES overrides) from initiator
 * to responder in writes of random sizes, read back in reads of random
 * sizes.  The SHA-256 of what arrived must equal that of what was sent,
 * and the stream must end with an authenticated close.
 */
#include <errno.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "endpoints.h"
#include "tap.h"

static struct ep_keys keys;
static uint64_t total_bytes = 1ULL << 30;

struct result {
	uint8_t digest[32];
	uint64_t bytes, records;
	int err;
};

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int read_exact(int fd, uint8_t *p, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Blocking handshake over fd. */
static int handshake(struct ep_side *ep, int fd)
{
	uint8_t msg[128];
	size_t len;
	int err;

	while (!ns_handshake_done(&ep->hs)) {
		if (ns_handshake_writing(&ep->hs)) {
			if ((err = ns_handshake_write(&ep->hs, msg, sizeof(msg), &len)) != NS_OK)
				return err;
			if (write_all(fd, msg, len) != 0)
				return NS_ERR_TRUNCATED;
		} else {
			len = ns_handshake_next_len(&ep->hs);
			if (read_exact(fd, msg, len) != 0)
				return NS_ERR_TRUNCATED;
			if ((err = ns_handshake_read(&ep->hs, msg, len)) != NS_OK)
				return err;
		}
	}
	if ((err = ns_handshake_finish(&ep->hs, &ep->s)) == NS_OK)
		ep->has_session = 1;
	return err;
}

static size_t random_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng);

	switch (r % 10) {
	case 0: return 1 + (size_t)(r >> 8) % NS_RECORD_MAX;      /* up to the max */
	case 1: case 2: case 3: case 4: return 1 + (size_t)(r >> 8) % 16384;
	default: return 1 + (size_t)(r >> 8) % 512;
	}
}

struct sender_arg {
	int fd;
	struct result res;
};

static void *sender(void *argp)
{
	struct sender_arg *arg = argp;
	struct ep_side ep;
	static uint8_t wire[NS_RECORD_MAX_WIRE];
	uint64_t rng = 0x9e3779b97f4a7c15ULL;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();

	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	arg->res.err = ep_init(&ep, &keys, 1, 0, NULL) != 0 ? NS_ERR_INTERNAL : handshake(&ep, arg->fd);
	while (arg->res.err == NS_OK && arg->res.bytes < total_bytes) {
		size_t n = random_size(&rng);
		uint8_t *p = wire + NS_RECORD_HDR_LEN;

		if (n > total_bytes - arg->res.bytes)
			n = (size_t)(total_bytes - arg->res.bytes);
		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = rng_next(&rng);
			memcpy(p + i, &v, n - i < 8 ? n - i : 8);
		}
		EVP_DigestUpdate(sha, p, n);
		arg->res.err = ns_record_seal(&ep.s.tx, NS_RECORD_DATA, p, n, wire);
		if (arg->res.err == NS_OK && write_all(arg->fd, wire, ns_record_wire_len(n)) != 0)
			arg->res.err = NS_ERR_TRUNCATED;
		arg->res.bytes += n;
		arg->res.records++;
	}
	if (arg->res.err == NS_OK) {
		arg->res.err = ns_record_seal(&ep.s.tx, NS_RECORD_CLOSE, NULL, 0, wire);
		if (arg->res.err == NS_OK && write_all(arg->fd, wire, ns_record_wire_len(0)) != 0)
			arg->res.err = NS_ERR_TRUNCATED;
	}
	shutdown(arg->fd, SHUT_WR);
	EVP_DigestFinal_ex(sha, arg->res.digest, NULL);
	EVP_MD_CTX_free(sha);
	ep_free(&ep);
	return NULL;
}

static void receiver(int fd, struct result *res)
{
	struct ep_side ep;
	static uint8_t buf[NS_RECORD_MAX_WIRE * 2];
	size_t have = 0;
	uint64_t rng = 12345;
	EVP_MD_CTX *sha = EVP_MD_CTX_new();

	EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
	res->err = ep_init(&ep, &keys, 0, 0, NULL) != 0 ? NS_ERR_INTERNAL : handshake(&ep, fd);
	while (res->err == NS_OK) {
		size_t want = 1 + (size_t)(rng_next(&rng) % (sizeof(buf) - have)), used, plen;
		ssize_t n = read(fd, buf + have, want);
		uint8_t *p, type;
		int rc;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			res->err = n == 0 && have == 0 ? ns_record_eof(&ep.s.rx) : NS_ERR_TRUNCATED;
			break;
		}
		have += (size_t)n;
		while ((rc = ns_record_open(&ep.s.rx, buf, have, &used, &p, &plen, &type)) == 1) {
			EVP_DigestUpdate(sha, p, plen);
			res->bytes += plen;
			res->records++;
			memmove(buf, buf + used, have - used);
			have -= used;
		}
		if (rc < 0)
			res->err = rc;
	}
	EVP_DigestFinal_ex(sha, res->digest, NULL);
	EVP_MD_CTX_free(sha);
	ep_free(&ep);
}

int main(void)
{
	int sv[2];
	pthread_t t;
	struct sender_arg s = { 0 };
	struct result r = { 0 };
	const char *env = getenv("NS_CHANNEL_BYTES");

	if (env != NULL)
		total_bytes = strtoull(env, NULL, 10);
	ep_keys_fixed(&keys, 99);
	ok(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair");
	s.fd = sv[0];
	ok(pthread_create(&t, NULL, sender, &s) == 0, "sender thread");
	receiver(sv[1], &r);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	ok(s.res.err == NS_OK, "sender finished (%s)", ns_strerror(s.res.err));
	ok(r.err == NS_OK, "receiver saw an authenticated close (%s)", ns_strerror(r.err));
	ok(s.res.bytes == total_bytes && r.bytes == total_bytes,
	   "%llu bytes sent, %llu received, in %llu records", (unsigned long long)s.res.bytes,
	   (unsigned long long)r.bytes, (unsigned long long)s.res.records);
	ok(memcmp(s.res.digest, r.digest, 32) == 0, "received bytes hash to the sent bytes");
	ok(r.records == s.res.records + 1, "every record arrived, the close included");
	return tap_done();
}
