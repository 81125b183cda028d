/*
 * base64.c: constant-time base64 for 32-byte keys.
 *
 * Each character is mapped with arithmetic on masks instead of a lookup
 * table or branches, so the time taken says nothing about the key.  The
 * technique is the usual one (libsodium, wireguard-tools): for a range
 * lo..hi, ((lo - 1 - c) & (c - (hi + 1))) is negative exactly when c is in
 * the range, and an arithmetic shift turns that into an all-ones mask.
 */
#include <ctype.h>
#include <string.h>

#include "keys.h"

/* -1 (all ones) when lo <= c <= hi, else 0. */
static int in_range(int c, int lo, int hi)
{
	return ((lo - 1 - c) & (c - (hi + 1))) >> 8;
}

/* 6-bit value of c, or -1. */
static int b64_value(int c)
{
	return -1 + (in_range(c, 'A', 'Z') & (c - 'A' + 1)) +
	       (in_range(c, 'a', 'z') & (c - 'a' + 27)) +
	       (in_range(c, '0', '9') & (c - '0' + 53)) +
	       (in_range(c, '+', '+') & 63) + (in_range(c, '/', '/') & 64);
}

static char b64_char(int v)
{
	/* A-Z for 0..25, a-z for 26..51, 0-9 for 52..61, + and / */
	return (char)('A' + v + (in_range(v, 26, 51) & 6) + (in_range(v, 52, 61) & -69) +
	              (in_range(v, 62, 62) & -84) + (in_range(v, 63, 63) & -81));
}

void ns_key_encode(const uint8_t key[32], char out[NS_KEY_B64_LEN + 1])
{
	int o = 0;

	for (int i = 0; i < 30; i += 3) {
		uint32_t v = (uint32_t)key[i] << 16 | (uint32_t)key[i + 1] << 8 | key[i + 2];
		for (int j = 3; j >= 0; j--)
			out[o++] = b64_char((int)(v >> (6 * j)) & 63);
	}
	{
		uint32_t v = (uint32_t)key[30] << 16 | (uint32_t)key[31] << 8;
		out[o++] = b64_char((int)(v >> 18) & 63);
		out[o++] = b64_char((int)(v >> 12) & 63);
		out[o++] = b64_char((int)(v >> 6) & 63);
		out[o++] = '=';
	}
	out[o] = '\0';
}

const char *ns_key_decode(const char *text, size_t len, uint8_t key[32])
{
	int bad = 0;

	while (len > 0 && isspace((unsigned char)text[len - 1]))
		len--;
	if (len == 0)
		return "it is empty";
	if (len != NS_KEY_B64_LEN || text[NS_KEY_B64_LEN - 1] != '=')
		return "a key is 44 characters of base64 ending in '=' (as 'nodeseal genkey' prints)";
	for (int i = 0, o = 0; i < 40; i += 4, o += 3) {
		int a = b64_value((unsigned char)text[i]), b = b64_value((unsigned char)text[i + 1]);
		int c = b64_value((unsigned char)text[i + 2]);
		int d = b64_value((unsigned char)text[i + 3]);
		uint32_t v = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 |
		             (uint32_t)(c & 63) << 6 | (uint32_t)(d & 63);
		bad |= a | b | c | d; /* negative if any was not base64 */
		key[o] = (uint8_t)(v >> 16);
		key[o + 1] = (uint8_t)(v >> 8);
		key[o + 2] = (uint8_t)v;
	}
	{
		int a = b64_value((unsigned char)text[40]), b = b64_value((unsigned char)text[41]);
		int c = b64_value((unsigned char)text[42]);
		uint32_t v = (uint32_t)(a & 63) << 18 | (uint32_t)(b & 63) << 12 |
		             (uint32_t)(c & 63) << 6;
		bad |= a | b | c;
		bad |= -((c & 3) != 0); /* the unused low bits must be zero */
		key[30] = (uint8_t)(v >> 16);
		key[31] = (uint8_t)(v >> 8);
	}
	if (bad < 0) {
		ns_wipe(key, 32);
		return "it is not valid base64";
	}
	return NULL;
}
