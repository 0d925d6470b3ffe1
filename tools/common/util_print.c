/*
 * util_print.c — showing message bodies to a person: sizes, escaped text on
 * one line, and hex dumps.
 */
#define _GNU_SOURCE
#include "tool_util.h"

const char *tool_format_size(size_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    unsigned u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0 || v == (double)(uint64_t)v)
        snprintf(buf, cap, "%llu %s", (unsigned long long)v, units[u]);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

void tool_print_escaped(FILE *f, const void *data, size_t size, size_t max)
{
    const unsigned char *p = data;
    size_t shown = (max != 0 && size > max) ? max : size;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = p[i];
        switch (c) {
        case '\\':
            fputs("\\\\", f);
            break;
        case '\n':
            fputs("\\n", f);
            break;
        case '\r':
            fputs("\\r", f);
            break;
        case '\t':
            fputs("\\t", f);
            break;
        default:
            if (c >= 0x20 && c < 0x7f)
                fputc(c, f);
            else
                fprintf(f, "\\x%02x", c);
        }
    }
    if (shown < size) fprintf(f, " ...(+%zu bytes)", size - shown);
}

void tool_print_hex(FILE *f, const void *data, size_t size, size_t max)
{
    const unsigned char *p = data;
    size_t shown = (max != 0 && size > max) ? max : size;
    for (size_t off = 0; off < shown; off += 16) {
        fprintf(f, "  %08zx ", off);
        for (size_t i = 0; i < 16; i++) {
            if (i == 8) fputc(' ', f);
            if (off + i < shown)
                fprintf(f, " %02x", p[off + i]);
            else
                fputs("   ", f);
        }
        fputs("  |", f);
        for (size_t i = 0; i < 16 && off + i < shown; i++) {
            unsigned char c = p[off + i];
            fputc(c >= 0x20 && c < 0x7f ? c : '.', f);
        }
        fputs("|\n", f);
    }
    if (shown < size) fprintf(f, "  ...(+%zu bytes not shown)\n", size - shown);
}
