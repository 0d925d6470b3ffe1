/*
 * nats_topic.c — ipm topics on NATS subjects, and metadata in a header.
 *
 * NATS matches subjects by whole tokens, ipm matches topics by byte prefix.
 * Spelling each topic byte as a token of its own (two hex digits) and ending
 * the subject with the token "_" turns one into the other: topic "tp" on
 * base "daq.run" is "daq.run.74.70._", and a subscription to prefix "t" is
 * "daq.run.74.>", which the server matches against "daq.run.74.70._" and
 * "daq.run.74._" but not "daq.run.68.73.69._" ("hsi"). Prefix "" is
 * "daq.run.>": every topic. So the server filters, no byte of an unwanted
 * topic reaches a subscriber, and the subject gives the topic back exactly.
 */
#define _GNU_SOURCE
#include "nats_common.h"

#include <string.h>

static const char hex[] = "0123456789abcdef";

bool ipm__nats_topic_subject(const char *base, const char *topic, size_t topic_len,
                             bool prefix, char *buf, size_t cap)
{
    size_t blen = strlen(base);
    if (blen + 3 * topic_len + 3 > cap) return false;
    memcpy(buf, base, blen);
    char *w = buf + blen;
    for (size_t i = 0; i < topic_len; i++) {
        unsigned char c = (unsigned char)topic[i];
        *w++ = '.';
        *w++ = hex[c >> 4];
        *w++ = hex[c & 15];
    }
    *w++ = '.';
    *w++ = prefix ? '>' : '_';
    *w = '\0';
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

size_t ipm__nats_subject_topic(const char *subject, size_t base_len, char *buf,
                               size_t cap)
{
    const char *s = subject + base_len;
    size_t n = 0;
    buf[0] = '\0';
    if (*s != '.') return 0;
    s++;
    /* Tokens "hh." up to the end token "_"; anything else is not ours. */
    while (s[0] != '_' || s[1] != '\0') {
        int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
        if (lo < 0 || s[2] != '.' || n + 1 >= cap) {
            buf[0] = '\0';
            return 0;
        }
        buf[n++] = (char)(hi << 4 | lo);
        s += 3;
    }
    buf[n] = '\0';
    return n;
}

void ipm__nats_meta_encode(const char *meta, size_t len, char *buf)
{
    char *w = buf;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)meta[i];
        if (c > ' ' && c < 0x7f && c != '%') {
            *w++ = (char)c;
        } else {
            *w++ = '%';
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w = '\0';
}

size_t ipm__nats_meta_decode(const char *value, char *buf)
{
    size_t n = 0;
    for (const char *s = value; *s; s++) {
        int hi, lo;
        if (s[0] == '%' && (hi = hexval(s[1])) >= 0 && (lo = hexval(s[2])) >= 0) {
            buf[n++] = (char)(hi << 4 | lo);
            s += 2;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n] = '\0';
    return n;
}
