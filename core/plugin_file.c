/* plugin_file.c — what the loader checks about a plugin file before dlopen,
 * which runs the library's constructors: that nobody but root or this
 * process's user can have put it there or changed it, and that it exports
 * the factory symbol, read from its ELF dynamic symbol table without running
 * anything. The file is hostile input: every offset and size read from it is
 * bounded by the file's size before use. */
#define _GNU_SOURCE
#include "internal.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------ ownership */

static bool trusted_owner(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

/* Refuse what another user could have written: the file, and every
 * directory above it (one that others may write could have the file or a
 * directory below it swapped). A sticky directory (/tmp) is fine: others
 * can add to it but not rename or remove what is ours. */
static ipm_status check_owner(const char *path, const struct stat *sb, const char *what,
                              const char *shown)
{
    if (!trusted_owner(sb->st_uid))
        return ipm_set_error(
            IPM_EPLUGIN,
            "refusing plugin '%s': %s '%s' is owned by uid %ld, neither root nor this "
            "process's user (uid %ld), so that user could replace what is loaded; "
            "give it to root or to uid %ld (chown)",
            shown, what, path, (long)sb->st_uid, (long)geteuid(), (long)geteuid());
    bool dir = S_ISDIR(sb->st_mode);
    if ((sb->st_mode & (S_IWGRP | S_IWOTH)) && !(dir && (sb->st_mode & S_ISVTX)))
        return ipm_set_error(
            IPM_EPLUGIN,
            "refusing plugin '%s': %s '%s' is writable by %s (mode %04o), so another "
            "user could replace what is loaded; make it writable by its owner only "
            "(chmod go-w '%s')",
            shown, what, path, (sb->st_mode & S_IWOTH) ? "every user" : "its group",
            (unsigned)(sb->st_mode & 07777), path);
    return IPM_OK;
}

static ipm_status check_directories(const char *real, const char *shown)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", real);
    for (;;) {
        char *slash = strrchr(dir, '/');
        if (!slash) return IPM_OK;
        if (slash == dir)
            slash[1] = '\0'; /* "/" itself */
        else
            *slash = '\0';
        struct stat sb;
        if (stat(dir, &sb) != 0)
            return ipm_set_error(IPM_EPLUGIN, "cannot load plugin '%s': stat '%s': %s",
                                 shown, dir, strerror(errno));
        ipm_status st = check_owner(dir, &sb, "its directory", shown);
        if (st != IPM_OK) return st;
        if (strcmp(dir, "/") == 0) return IPM_OK;
    }
}

/* ------------------------------------------------------------------ ELF */

/* The members of the ELF structures the check needs, from either class. */
struct elf_file {
    int fd;
    uint64_t size;
    bool is64;
};

struct shdr {
    uint32_t type, link;
    uint64_t offset, size, entsize;
};

/* Read n bytes at off, or false if they are not all inside the file. */
static bool read_at(const struct elf_file *f, uint64_t off, void *buf, size_t n)
{
    if (off > f->size || n > f->size - off) return false;
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = pread(f->fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return false;
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    return true;
}

static bool read_shdr(const struct elf_file *f, uint64_t off, struct shdr *out)
{
    if (f->is64) {
        Elf64_Shdr s;
        if (!read_at(f, off, &s, sizeof s)) return false;
        *out = (struct shdr){s.sh_type, s.sh_link, s.sh_offset, s.sh_size, s.sh_entsize};
    } else {
        Elf32_Shdr s;
        if (!read_at(f, off, &s, sizeof s)) return false;
        *out = (struct shdr){s.sh_type, s.sh_link, s.sh_offset, s.sh_size, s.sh_entsize};
    }
    return true;
}

/* True if the symbol at index i of the table at off names sym and is a
 * defined, visible function: what dlsym would find. */
static bool symbol_is(const struct elf_file *f, uint64_t off, const char *strtab,
                      uint64_t strsz, const char *sym)
{
    uint32_t name;
    unsigned char info, other;
    uint16_t shndx;
    if (f->is64) {
        Elf64_Sym s;
        if (!read_at(f, off, &s, sizeof s)) return false;
        name = s.st_name, info = s.st_info, other = s.st_other, shndx = s.st_shndx;
    } else {
        Elf32_Sym s;
        if (!read_at(f, off, &s, sizeof s)) return false;
        name = s.st_name, info = s.st_info, other = s.st_other, shndx = s.st_shndx;
    }
    size_t len = strlen(sym);
    if (name >= strsz || strsz - name <= len) return false; /* name and its NUL */
    if (memcmp(strtab + name, sym, len + 1) != 0) return false;
    unsigned bind = ELF64_ST_BIND(info), type = ELF64_ST_TYPE(info);
    unsigned vis = ELF64_ST_VISIBILITY(other);
    return shndx != SHN_UNDEF && type == STT_FUNC &&
           (bind == STB_GLOBAL || bind == STB_WEAK) &&
           (vis == STV_DEFAULT || vis == STV_PROTECTED);
}

#define NOT_PLUGIN "'%s' is not an ipm plugin: "
#define CHECKED " (checked in the file itself before loading it: nothing of it was run)"

/* Every PT_LOAD segment inside the file: dlopen maps them, and a truncated
 * file would fault (SIGBUS) on first touch instead of failing to load. */
static ipm_status check_segments(const struct elf_file *f, uint64_t phoff,
                                 unsigned phentsize, unsigned phnum, const char *shown)
{
    if (phnum == 0 || phentsize != (f->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
        return ipm_set_error(IPM_EPLUGIN,
                             NOT_PLUGIN "its ELF program headers are missing or "
                                        "malformed" CHECKED,
                             shown);
    for (unsigned i = 0; i < phnum; i++) {
        uint32_t type;
        uint64_t off, filesz;
        uint64_t at = phoff + (uint64_t)i * phentsize;
        if (f->is64) {
            Elf64_Phdr p;
            if (!read_at(f, at, &p, sizeof p)) goto truncated;
            type = p.p_type, off = p.p_offset, filesz = p.p_filesz;
        } else {
            Elf32_Phdr p;
            if (!read_at(f, at, &p, sizeof p)) goto truncated;
            type = p.p_type, off = p.p_offset, filesz = p.p_filesz;
        }
        if (type == PT_LOAD && (off > f->size || filesz > f->size - off)) goto truncated;
    }
    return IPM_OK;
truncated:
    return ipm_set_error(IPM_EPLUGIN,
                         NOT_PLUGIN "its ELF headers point past the end of the file "
                                    "(%llu bytes): truncated or corrupt" CHECKED,
                         shown, (unsigned long long)f->size);
}

/* IPM_OK if the ELF shared object f exports function sym. */
static ipm_status check_elf(const struct elf_file *fin, const char *sym, const char *name,
                            const char *shown)
{
    struct elf_file f = *fin;
    unsigned char ident[EI_NIDENT];
    if (!read_at(&f, 0, ident, sizeof ident) || memcmp(ident, ELFMAG, SELFMAG) != 0)
        return ipm_set_error(
            IPM_EPLUGIN, NOT_PLUGIN "not an ELF shared object (no ELF header)" CHECKED,
            shown);
    if (ident[EI_CLASS] != ELFCLASS32 && ident[EI_CLASS] != ELFCLASS64)
        return ipm_set_error(IPM_EPLUGIN, NOT_PLUGIN "unknown ELF class %u" CHECKED,
                             shown, ident[EI_CLASS]);
    const union {
        uint16_t u;
        unsigned char b[2];
    } probe = {1};
    unsigned host = probe.b[0] == 1 ? ELFDATA2LSB : ELFDATA2MSB;
    if (ident[EI_DATA] != host)
        return ipm_set_error(IPM_EPLUGIN,
                             NOT_PLUGIN "built for the other byte order (%s-endian); "
                                        "rebuild it for this machine" CHECKED,
                             shown, ident[EI_DATA] == ELFDATA2LSB ? "little" : "big");
    f.is64 = ident[EI_CLASS] == ELFCLASS64;

    uint16_t type, shentsize, shnum, phentsize, phnum;
    uint64_t shoff, phoff;
    if (f.is64) {
        Elf64_Ehdr e;
        if (!read_at(&f, 0, &e, sizeof e)) goto short_header;
        type = e.e_type, shoff = e.e_shoff, shentsize = e.e_shentsize, shnum = e.e_shnum;
        phoff = e.e_phoff, phentsize = e.e_phentsize, phnum = e.e_phnum;
    } else {
        Elf32_Ehdr e;
        if (!read_at(&f, 0, &e, sizeof e)) goto short_header;
        type = e.e_type, shoff = e.e_shoff, shentsize = e.e_shentsize, shnum = e.e_shnum;
        phoff = e.e_phoff, phentsize = e.e_phentsize, phnum = e.e_phnum;
    }
    if (type != ET_DYN)
        return ipm_set_error(IPM_EPLUGIN,
                             NOT_PLUGIN "an ELF file but not a shared library (ELF type "
                                        "%u)" CHECKED,
                             shown, type);
    ipm_status st = check_segments(&f, phoff, phentsize, phnum, shown);
    if (st != IPM_OK) return st;
    if (shnum == 0 || shentsize != (f.is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr)))
        return ipm_set_error(IPM_EPLUGIN,
                             NOT_PLUGIN "its ELF section headers are missing or "
                                        "malformed, so its dynamic symbols cannot be "
                                        "checked" CHECKED,
                             shown);

    /* The dynamic symbol table (what dlsym searches) and its strings. */
    struct shdr dynsym = {0}, strs;
    bool found = false;
    for (unsigned i = 0; i < shnum && !found; i++) {
        if (!read_shdr(&f, shoff + (uint64_t)i * shentsize, &dynsym)) goto corrupt;
        found = dynsym.type == SHT_DYNSYM;
    }
    size_t symsize = f.is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
    if (!found) goto no_factory;
    if (dynsym.link >= shnum ||
        !read_shdr(&f, shoff + (uint64_t)dynsym.link * shentsize, &strs) ||
        strs.type != SHT_STRTAB || dynsym.entsize != symsize || dynsym.offset > f.size ||
        dynsym.size > f.size - dynsym.offset || strs.offset > f.size ||
        strs.size > f.size - strs.offset)
        goto corrupt;
    char *strtab = malloc(strs.size ? strs.size : 1);
    if (!strtab)
        return ipm_set_error(IPM_ENOMEM, "checking plugin '%s': out of memory", shown);
    if (!read_at(&f, strs.offset, strtab, strs.size)) {
        free(strtab);
        goto corrupt;
    }
    uint64_t n = dynsym.size / symsize;
    bool exported = false;
    for (uint64_t i = 1; i < n && !exported; i++) /* symbol 0 is the null one */
        exported = symbol_is(&f, dynsym.offset + i * symsize, strtab, strs.size, sym);
    free(strtab);
    if (exported) return IPM_OK;
no_factory:
    return ipm_set_error(IPM_EPLUGIN,
                         NOT_PLUGIN
                         "it does not export %s (its ELF dynamic symbol table "
                         "has no such function)" CHECKED
                         "; plugins define it with IPM_PLUGIN_DEFINE(%s, &descriptor)",
                         shown, sym, name);
short_header:
    return ipm_set_error(IPM_EPLUGIN, NOT_PLUGIN "its ELF header is cut short" CHECKED,
                         shown);
corrupt:
    return ipm_set_error(IPM_EPLUGIN,
                         NOT_PLUGIN "its ELF section headers or dynamic symbol table "
                                    "point outside the file or are malformed" CHECKED,
                         shown);
}

/* ---------------------------------------------------------------- entry */

ipm_status ipm__plugin_file_check(const char *path, const char *name, char *real,
                                  size_t cap, struct stat *id)
{
    char *resolved = realpath(path, NULL);
    if (!resolved)
        return ipm_set_error(IPM_EPLUGIN, "cannot load plugin '%s': %s", path,
                             strerror(errno));
    int plen = snprintf(real, cap, "%s", resolved);
    free(resolved);
    if (plen < 0 || (size_t)plen >= cap)
        return ipm_set_error(IPM_EPLUGIN, "cannot load plugin '%s': path too long", path);
    /* O_NONBLOCK: a FIFO planted under the plugin's name must not hang the
     * open; fstat then refuses it. */
    int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return ipm_set_error(IPM_EPLUGIN, "cannot load plugin '%s': open: %s", path,
                             strerror(errno));
    ipm_status st = IPM_OK;
    if (fstat(fd, id) != 0)
        st = ipm_set_error(IPM_EPLUGIN, "cannot load plugin '%s': fstat: %s", path,
                           strerror(errno));
    else if (!S_ISREG(id->st_mode))
        st = ipm_set_error(
            IPM_EPLUGIN, "refusing plugin '%s': '%s' is not a regular file", path, real);
    if (st == IPM_OK) st = check_owner(real, id, "the file", path);
    if (st == IPM_OK) st = check_directories(real, path);
    if (st == IPM_OK) {
        char sym[160];
        snprintf(sym, sizeof sym, "ipm_plugin_%s", name);
        struct elf_file f = {fd, (uint64_t)id->st_size, false};
        st = check_elf(&f, sym, name, path);
    }
    close(fd);
    return st;
}
