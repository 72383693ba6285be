/*
 * floor_counter: the pub/sub floor peer of the taskwatch benchmark.
 *
 * Runs `redis-cli -h HOST -p PORT` as a child, feeds it ONE command line on
 * stdin -- "SUBSCRIBE ch1 ch2 ... chN" -- and reads redis-cli's raw output
 * (stdout is a pipe, so redis-cli prints every reply element on its own line:
 * "subscribe\n<channel>\n<count>\n" and "message\n<channel>\n<payload>\n").
 * It keeps a hash set of the N channels and stops as soon as every channel
 * has carried a payload whose "status" is a ready state (SUCCESS, FAILURE,
 * REVOKED). Then it prints
 *
 *     done <N> <CLOCK_MONOTONIC ns>
 *
 * on stdout, SIGKILLs redis-cli, reaps it and exits 0. On stderr it prints
 * one "rusage" line with its own and redis-cli's user/sys CPU and max RSS so
 * the harness can add the two processes up.
 *
 * Why a child and not a shell pipe: in a `redis-cli | counter` pipe the
 * counter's exit does not end redis-cli (it only gets SIGPIPE on its next
 * write, and after the last message there is none), so the pipe would hang.
 * Why stdin and not argv: 100,000 channel names are ~5.4 MB, more than
 * ARG_MAX (2 MB with the default 8 MB stack). redis-cli reads a command line
 * of any length from a non-tty stdin and enters its pub/sub loop.
 *
 * The work per line is a memchr, and per message a memmem for "status" plus
 * one hash lookup, so redis-cli (RESP parsing + printing) stays the cost.
 *
 * With --no-reap it exits right after the done line and leaves the SIGKILLed
 * redis-cli to be reaped by others: killing and reaping it takes ~1 ms on a
 * small VM, which would otherwise be charged to the floor's exit latency (S1).
 * The rusage line then has no redis-cli figures.
 *
 * Usage: floor_counter --port PORT --channels FILE [--host H] [--redis-cli PATH] [--no-reap]
 * Exit: 0 done; 1 redis-cli ended first; 2 usage or system error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "floor_counter: %s: %s\n", what, strerror(errno));
    exit(2);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("malloc");
    return p;
}

/* ---- open-addressing hash set of channel names -> index ---- */
static char **names;      /* names[i], NUL-terminated */
static size_t *name_len;
static size_t nnames;
static int32_t *slots;    /* -1 empty, else index into names */
static size_t nslots;     /* power of two */
static unsigned char *done_flag;

static uint64_t hash_bytes(const char *s, size_t n) { /* FNV-1a 64 */
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ULL; }
    return h;
}

static long lookup(const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & (nslots - 1);
    for (;;) {
        int32_t k = slots[i];
        if (k < 0) return -1;
        if (name_len[k] == n && memcmp(names[k], s, n) == 0) return k;
        i = (i + 1) & (nslots - 1);
    }
}

static void insert(size_t k) {
    size_t i = hash_bytes(names[k], name_len[k]) & (nslots - 1);
    while (slots[i] >= 0) {
        int32_t j = slots[i];
        if (name_len[j] == name_len[k] && memcmp(names[j], names[k], name_len[k]) == 0) return; /* duplicate */
        i = (i + 1) & (nslots - 1);
    }
    slots[i] = (int32_t)k;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (n == cap) { cap *= 2; buf = realloc(buf, cap + 1); if (!buf) die("realloc"); }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    fclose(f);
    buf[n] = 0;
    *len = n;
    return buf;
}

static int is_ready_payload(const char *p, size_t n) {
    static const char key[] = "\"status\"";
    const char *s = memmem(p, n, key, sizeof key - 1);
    if (!s) return 0;
    s += sizeof key - 1;
    const char *end = p + n;
    while (s < end && (*s == ' ' || *s == ':')) s++;
    if (s >= end || *s != '"') return 0;
    s++;
    size_t left = (size_t)(end - s);
    return (left >= 8 && memcmp(s, "SUCCESS\"", 8) == 0) ||
           (left >= 8 && memcmp(s, "FAILURE\"", 8) == 0) ||
           (left >= 8 && memcmp(s, "REVOKED\"", 8) == 0);
}

static void write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) { if (errno == EINTR) continue; die("write to redis-cli"); }
        p += w; n -= (size_t)w;
    }
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *port = NULL, *chfile = NULL, *cli = "redis-cli";
    int reap = 1;
    for (int i = 1; i < argc; i += 2) {
        if (!strcmp(argv[i], "--no-reap")) { reap = 0; i--; continue; }
        if (i + 1 >= argc) { fprintf(stderr, "floor_counter: %s needs a value\n", argv[i]); return 2; }
        if (!strcmp(argv[i], "--port")) port = argv[i + 1];
        else if (!strcmp(argv[i], "--host")) host = argv[i + 1];
        else if (!strcmp(argv[i], "--channels")) chfile = argv[i + 1];
        else if (!strcmp(argv[i], "--redis-cli")) cli = argv[i + 1];
        else { fprintf(stderr, "floor_counter: unknown option %s\n", argv[i]); return 2; }
    }
    if (!port || !chfile) {
        fprintf(stderr, "usage: floor_counter --port PORT --channels FILE [--host H] [--redis-cli PATH] [--no-reap]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);

    /* Channel list -> names[] and the SUBSCRIBE command line. */
    size_t flen;
    char *text = read_file(chfile, &flen);
    size_t cap = 1024;
    names = xmalloc(cap * sizeof *names);
    name_len = xmalloc(cap * sizeof *name_len);
    char *cmd = xmalloc(flen + 16);
    size_t clen = 0;
    memcpy(cmd, "SUBSCRIBE", 9); clen = 9;
    for (char *p = text; *p;) {
        char *e = p;
        while (*e && *e != '\n' && *e != '\r' && *e != ' ' && *e != '\t') e++;
        if (e > p) {
            if (nnames == cap) {
                cap *= 2;
                names = realloc(names, cap * sizeof *names);
                name_len = realloc(name_len, cap * sizeof *name_len);
                if (!names || !name_len) die("realloc");
            }
            names[nnames] = p; name_len[nnames] = (size_t)(e - p);
            cmd[clen++] = ' '; memcpy(cmd + clen, p, (size_t)(e - p)); clen += (size_t)(e - p);
            nnames++;
        }
        if (!*e) break;
        *e = 0;
        p = e + 1;
    }
    cmd[clen++] = '\n';
    if (nnames == 0) { fprintf(stderr, "floor_counter: no channels in %s\n", chfile); return 2; }
    for (nslots = 16; nslots < nnames * 2; nslots <<= 1) {}
    slots = xmalloc(nslots * sizeof *slots);
    memset(slots, 0xff, nslots * sizeof *slots);
    for (size_t k = 0; k < nnames; k++) insert(k);
    done_flag = calloc(nnames, 1);
    if (!done_flag) die("calloc");

    int in_pipe[2], out_pipe[2];
    if (pipe(in_pipe) || pipe(out_pipe)) die("pipe");
    pid_t child = fork();
    if (child < 0) die("fork");
    if (child == 0) {
        dup2(in_pipe[0], 0);
        dup2(out_pipe[1], 1);
        close(in_pipe[0]); close(in_pipe[1]); close(out_pipe[0]); close(out_pipe[1]);
        execlp(cli, cli, "-h", host, "-p", port, (char *)NULL);
        fprintf(stderr, "floor_counter: exec %s: %s\n", cli, strerror(errno));
        _exit(127);
    }
    close(in_pipe[0]); close(out_pipe[1]);
    /* redis-cli reads the whole line before it sends or prints anything, so
       writing it all first cannot deadlock against its output. */
    write_all(in_pipe[1], cmd, clen);
    close(in_pipe[1]);
    free(cmd);

    size_t ndone = 0;
    int field = 0;           /* 0 kind, 1 channel, 2 data */
    int is_message = 0;
    long chan = -1;
    size_t bcap = 1 << 20, blen = 0;
    char *buf = xmalloc(bcap);
    int status = 1;
    for (;;) {
        if (blen == bcap) { bcap *= 2; buf = realloc(buf, bcap); if (!buf) die("realloc"); }
        ssize_t r = read(out_pipe[0], buf + blen, bcap - blen);
        if (r < 0) { if (errno == EINTR) continue; die("read from redis-cli"); }
        if (r == 0) break;
        blen += (size_t)r;
        size_t pos = 0;
        for (;;) {
            char *nl = memchr(buf + pos, '\n', blen - pos);
            if (!nl) break;
            const char *line = buf + pos;
            size_t n = (size_t)(nl - line);
            pos += n + 1;
            if (field == 0) {
                is_message = (n == 7 && memcmp(line, "message", 7) == 0);
            } else if (field == 1) {
                chan = is_message ? lookup(line, n) : -1;
            } else if (is_message && chan >= 0 && !done_flag[chan] && is_ready_payload(line, n)) {
                done_flag[chan] = 1;
                if (++ndone == nnames) goto finished;
            }
            field = (field + 1) % 3;
        }
        memmove(buf, buf + pos, blen - pos);
        blen -= pos;
    }
    fprintf(stderr, "floor_counter: redis-cli ended after %zu of %zu channels were ready\n", ndone, nnames);
    goto reap;

finished:
    {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        printf("done %zu %lld\n", nnames, (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
        fflush(stdout);
        status = 0;
    }
reap:
    kill(child, SIGKILL);
    if (!reap) {
        struct rusage sru;
        getrusage(RUSAGE_SELF, &sru);
        fprintf(stderr, "rusage self_user_s=%.6f self_sys_s=%.6f self_maxrss_kb=%ld\n",
                sru.ru_utime.tv_sec + sru.ru_utime.tv_usec / 1e6,
                sru.ru_stime.tv_sec + sru.ru_stime.tv_usec / 1e6, sru.ru_maxrss);
        return status;
    }
    {
        int ws;
        struct rusage cru, sru;
        while (wait4(child, &ws, 0, &cru) < 0 && errno == EINTR) {}
        getrusage(RUSAGE_SELF, &sru);
        fprintf(stderr, "rusage self_user_s=%.6f self_sys_s=%.6f self_maxrss_kb=%ld "
                        "cli_user_s=%.6f cli_sys_s=%.6f cli_maxrss_kb=%ld\n",
                sru.ru_utime.tv_sec + sru.ru_utime.tv_usec / 1e6,
                sru.ru_stime.tv_sec + sru.ru_stime.tv_usec / 1e6, sru.ru_maxrss,
                cru.ru_utime.tv_sec + cru.ru_utime.tv_usec / 1e6,
                cru.ru_stime.tv_sec + cru.ru_stime.tv_usec / 1e6, cru.ru_maxrss);
    }
    return status;
}
