/*
 * ecslite-shim: the process that owns the containers of one task.
 *
 * The process runtime starts one shim per task. The shim daemonizes, so it outlives the server:
 * containers are its children, it keeps their exit codes in files and their output in log files,
 * and a restarted server reconnects to it. It never exits on its own; it leaves after a
 * `shutdown` request once every container has exited.
 *
 * Usage
 *   ecslite-shim serve TASK_DIR        daemonize and serve TASK_DIR/shim.sock; prints the pid
 *   ecslite-shim exec PID [--start-ticks N] [--cgroup DIR]... [--rlimit "NAME SOFT HARD"]...
 *                     [--uid N] [--gid N] [--groups G,G] [--cwd DIR] -- ARGV...
 *                                      run ARGV inside the namespaces and cgroups of container
 *                                      process PID with the environment of this process
 *   ecslite-shim init FD -- ARGV...    (internal) PID 1 of a container with initProcessEnabled
 *   ecslite-shim probe                 check that this machine lets the shim create containers
 *   ecslite-shim version               print the protocol version
 *
 * Files in TASK_DIR (records are written to NAME.tmp and renamed, so a reader never sees half)
 *   shim.lock          held (flock) for the shim's whole life: free lock = no live shim
 *   shim.pid           "PID\n", written once the socket listens
 *   shim.log           the shim's own errors
 *   shim.sock          the control socket
 *   NAME.spec          the container's spec, written by the runtime before `start`
 *   NAME.started       "pid=PID\nstarted_at=T\nstart_ticks=N\n" (N: the process's start time in
 *                      clock ticks since boot, which with PID names it for good; exec checks it)
 *   NAME.log           every line of output: "T stdout|stderr LINE\n"; a partial line longer than
 *                      16 KiB, or unterminated at exit, is written as a record of its own
 *   NAME.exit          "code=N\nsignal=S\nfinished_at=T\n"; code is the exit status, or
 *                      128+signal for a death by signal (then signal=S, else 0)
 *   T is epoch seconds with 9 decimals (CLOCK_REALTIME).
 *
 * Spec file: NUL-terminated strings alternating key and value. Keys (repeatable ones marked *):
 *   arg*  env* (KEY=VALUE)  cwd  uid  gid  groups (comma-separated gids)  rlimit* ("NAME SOFT HARD",
 *   ECS ulimit names, -1 = unlimited)  cgroup* (directory to join)  netns (path)  hostname
 *   bind* ("ro|rw\nSOURCE\nTARGET")  rootfs (directory to pivot into)  readonly (1)  init (1)
 *   rootfs_upper (a directory for the container's own writable layer: rootfs is then the read-only
 *   lower layer of an overlay mounted in the container's mount namespace, so containers of one
 *   image never see each other's writes)
 *   stop_signal (what `stop` sends: the image's STOPSIGNAL; default 15)
 *   x-* (ignored: notes the runtime keeps for itself)
 *
 * Protocol on shim.sock: lines of words separated by single spaces. On connect the shim says
 *   hello ecslite-shim VERSION PID
 * then answers each request with one line, in order:
 *   start NAME [zygote] -> ok PID STARTED_AT START_TICKS | err MESSAGE  (a started NAME answers its state;
 *                          with "zygote", NAME's cgroups are the zygote's, renamed: it becomes NAME)
 *   zygote DIR...       -> ok PID | err MESSAGE   (fork a zygote that joins cgroups DIR... and waits)
 *   signal NAME SIGNUM  -> ok | err MESSAGE                  (the container's process group; no-op once exited)
 *   stop NAME           -> ok | err MESSAGE                  (signal with the container's stop signal)
 *   status              -> ok [NAME,PID,STARTED_AT,running|exited,CODE,FINISHED_AT ...] (CODE and
 *                          FINISHED_AT are - while running)
 *   shutdown            -> ok; the shim exits once no container runs
 * and pushes, between answers, to every connected client
 *   event exit NAME CODE FINISHED_AT
 * Events are an optimisation: the .exit file is written first, so a client that was away reads it.
 *
 * Zygote: moving a process into a cgroup waits for an RCU grace period (~10 ms on cgroup v1) when
 * none was moved just before, which would be most of a container's start. A zygote is the next
 * container's process made ahead of time: cloned into new namespaces, it joins its cgroups (a
 * directory the runtime made for it) and waits. `start NAME zygote`, sent once the runtime has
 * renamed that directory to NAME's, hands it NAME's spec; it sets up the rest (network namespace,
 * mounts, identity) and execs. Without a live zygote the start clones as usual, joining the same
 * (renamed) cgroups. One zygote at a time; a zygote nobody used ends when the shim does.
 * A client that does not read its answers is disconnected (the shim never blocks on one).
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL_VERSION 1
#define MAX_CONTAINERS 32
#define MAX_CLIENTS 16
#define LINE_MAX_BYTES 16384          /* a longer partial line becomes its own record */
#define REQUEST_MAX 4096
#define CLIENT_OUT_MAX (1 << 20)      /* unread answers beyond this: the client is dropped */
#define BATCH_MAX (128 * 1024)
#define SPEC_MAX (8 << 20)
#define ERR_MAX 1024
#define STACK_SIZE (256 * 1024)
#define START_TIMEOUT_MS 10000
#define DRAIN_GRACE_NS 1000000000LL   /* output still open this long after the exit is not waited for */
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

extern char **environ;

/* ------------------------------------------------------------------------------------------ */
/* Small helpers                                                                               */

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    char buf[2048];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int n = snprintf(buf, sizeof buf, "%lld.%09ld shim[%d]: ", (long long)ts.tv_sec, ts.tv_nsec, (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2)
        n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    if (write(STDERR_FILENO, buf, (size_t)n) < 0) {
        /* nowhere left to report to */
    }
}

static void fmt_time(const struct timespec *ts, char out[40])
{
    snprintf(out, 40, "%lld.%09ld", (long long)ts->tv_sec, ts->tv_nsec);
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* strerror in Go's spelling ("no such file or directory"), which is how runc words exec errors. */
static const char *lower_strerror(int err, char out[128])
{
    snprintf(out, 128, "%s", strerror(err));
    out[0] = (char)tolower((unsigned char)out[0]);
    return out;
}

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Write NAME in dirfd atomically: a reader sees the old file, no file, or all of the new one. */
static int write_record(int dirfd, const char *name, const char *content)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s.tmp", name);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, content, strlen(content));
    if (close(fd) < 0)
        rc = -1;
    if (rc == 0)
        rc = renameat(dirfd, tmp, dirfd, name);
    if (rc < 0)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

/* PATH_MAX-bounded path formatting; a path that does not fit is an error, never silently cut. */
static int pathf(char out[PATH_MAX], const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int pathf(char out[PATH_MAX], const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, PATH_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= PATH_MAX) {
        errno = ENAMETOOLONG;
        return -1;
    }
    return 0;
}

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_' && name[i] != '-')
            return false;
    return true;
}

static bool parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    if (!*s || !isdigit((unsigned char)*s))
        return false;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || v > max)
        return false;
    *out = v;
    return true;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; 0 if unknown. */
static unsigned long long process_start_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    if (!p)
        return 0;
    p++; /* the space before field 3 */
    for (int field = 3; field < 22 && p; field++)
        p = strchr(p + 1, ' ');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* ------------------------------------------------------------------------------------------ */
/* Container specs                                                                             */

struct rlimit_item {
    int resource;
    struct rlimit limit;
    const char *name;
};

struct bind_item {
    bool readonly;
    const char *source, *target;
};

struct spec {
    char *buf; /* the file; every string below points into it */
    char **argv;
    size_t argc;
    char **envp;
    size_t envc;
    const char *cwd, *netns, *hostname, *rootfs, *rootfs_upper;
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t ngroups;
    struct rlimit_item *rlimits;
    size_t nrlimits;
    const char **cgroups;
    size_t ncgroups;
    struct bind_item *binds;
    size_t nbinds;
    bool readonly, init;
    int stop_signal;
};

static const struct {
    const char *name;
    int resource;
} RLIMITS[] = {
    {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},         {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},     {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},     {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},         {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},   {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK},
};

static void spec_free(struct spec *s)
{
    free(s->buf);
    free(s->argv);
    free(s->envp);
    free(s->groups);
    free(s->rlimits);
    free(s->cgroups);
    free(s->binds);
    memset(s, 0, sizeof *s);
}

/* Append item to a NULL-terminated array of pointers (argv, envp) or a plain array. */
static bool push(void **array, size_t *count, size_t size, const void *item, bool terminate)
{
    void *grown = realloc(*array, (*count + 1 + (terminate ? 1 : 0)) * size);
    if (!grown)
        return false;
    *array = grown;
    memcpy((char *)grown + *count * size, item, size);
    (*count)++;
    if (terminate)
        memset((char *)grown + *count * size, 0, size);
    return true;
}

static bool parse_rlimit_value(const char *text, rlim_t *out)
{
    if (strcmp(text, "-1") == 0) {
        *out = RLIM_INFINITY;
        return true;
    }
    unsigned long v;
    if (!parse_ulong(text, ULONG_MAX, &v))
        return false;
    *out = (rlim_t)v;
    return true;
}

static bool parse_rlimit(char *value, struct rlimit_item *item)
{
    char *soft = strchr(value, ' ');
    if (!soft)
        return false;
    *soft++ = '\0';
    char *hard = strchr(soft, ' ');
    if (!hard)
        return false;
    *hard++ = '\0';
    item->name = value;
    item->resource = -1;
    for (size_t i = 0; i < sizeof RLIMITS / sizeof RLIMITS[0]; i++)
        if (strcmp(RLIMITS[i].name, value) == 0)
            item->resource = RLIMITS[i].resource;
    return item->resource >= 0 && parse_rlimit_value(soft, &item->limit.rlim_cur) &&
           parse_rlimit_value(hard, &item->limit.rlim_max);
}

static bool parse_groups(char *value, struct spec *s)
{
    for (char *tok = strtok(value, ","); tok; tok = strtok(NULL, ",")) {
        unsigned long g;
        gid_t gid;
        if (!parse_ulong(tok, UINT_MAX - 1, &g))
            return false;
        gid = (gid_t)g;
        if (!push((void **)&s->groups, &s->ngroups, sizeof gid, &gid, false))
            return false;
    }
    return true;
}

static bool parse_bind(char *value, struct bind_item *item)
{
    char *source = strchr(value, '\n');
    if (!source)
        return false;
    *source++ = '\0';
    char *target = strchr(source, '\n');
    if (!target)
        return false;
    *target++ = '\0';
    if (strcmp(value, "ro") != 0 && strcmp(value, "rw") != 0)
        return false;
    item->readonly = strcmp(value, "ro") == 0;
    item->source = source;
    item->target = target;
    return source[0] == '/' && target[0] == '/';
}

static bool spec_apply(struct spec *s, const char *key, char *value, char *err, size_t errlen)
{
    unsigned long num;
    if (strcmp(key, "arg") == 0) {
        if (!push((void **)&s->argv, &s->argc, sizeof value, &value, true))
            goto nomem;
    } else if (strcmp(key, "env") == 0) {
        if (!strchr(value, '=')) {
            snprintf(err, errlen, "invalid environment entry \"%s\"", value);
            return false;
        }
        if (!push((void **)&s->envp, &s->envc, sizeof value, &value, true))
            goto nomem;
    } else if (strcmp(key, "cwd") == 0) {
        s->cwd = value;
    } else if (strcmp(key, "netns") == 0) {
        s->netns = value;
    } else if (strcmp(key, "hostname") == 0) {
        s->hostname = value;
    } else if (strcmp(key, "rootfs") == 0) {
        s->rootfs = value;
    } else if (strcmp(key, "rootfs_upper") == 0) {
        s->rootfs_upper = value;
    } else if (strcmp(key, "uid") == 0 || strcmp(key, "gid") == 0) {
        if (!parse_ulong(value, UINT_MAX - 1, &num)) {
            snprintf(err, errlen, "invalid %s \"%s\"", key, value);
            return false;
        }
        if (key[0] == 'u')
            s->uid = (uid_t)num;
        else
            s->gid = (gid_t)num;
    } else if (strcmp(key, "groups") == 0) {
        if (!parse_groups(value, s)) {
            snprintf(err, errlen, "invalid groups");
            return false;
        }
    } else if (strcmp(key, "rlimit") == 0) {
        struct rlimit_item item;
        if (!parse_rlimit(value, &item)) {
            snprintf(err, errlen, "invalid ulimit \"%s\"", value);
            return false;
        }
        if (!push((void **)&s->rlimits, &s->nrlimits, sizeof item, &item, false))
            goto nomem;
    } else if (strcmp(key, "cgroup") == 0) {
        const char *dir = value;
        if (!push((void **)&s->cgroups, &s->ncgroups, sizeof dir, &dir, false))
            goto nomem;
    } else if (strcmp(key, "bind") == 0) {
        struct bind_item item;
        if (!parse_bind(value, &item)) {
            snprintf(err, errlen, "invalid bind mount");
            return false;
        }
        if (!push((void **)&s->binds, &s->nbinds, sizeof item, &item, false))
            goto nomem;
    } else if (strcmp(key, "stop_signal") == 0) {
        if (!parse_ulong(value, NSIG - 1, &num) || num == 0) {
            snprintf(err, errlen, "invalid stop signal \"%s\"", value);
            return false;
        }
        s->stop_signal = (int)num;
    } else if (strcmp(key, "readonly") == 0) {
        s->readonly = strcmp(value, "1") == 0;
    } else if (strcmp(key, "init") == 0) {
        s->init = strcmp(value, "1") == 0;
    } else if (strncmp(key, "x-", 2) != 0) { /* x-*: the runtime's own notes, kept in the file for it */
        snprintf(err, errlen, "unknown spec key \"%s\"", key);
        return false;
    }
    return true;
nomem:
    snprintf(err, errlen, "out of memory");
    return false;
}

/* Read and parse dirfd/path. On failure the message is in err and the spec is empty. */
static bool spec_load(int dirfd, const char *path, struct spec *s, char *err, size_t errlen)
{
    char tmp[128];
    memset(s, 0, sizeof *s);
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "spec %s: %s", path, lower_strerror(errno, tmp));
        return false;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size > SPEC_MAX) {
        close(fd);
        snprintf(err, errlen, "spec %s: unreadable or larger than %d bytes", path, SPEC_MAX);
        return false;
    }
    size_t size = (size_t)st.st_size;
    s->buf = malloc(size + 1);
    size_t got = 0;
    while (s->buf && got < size) {
        ssize_t n = read(fd, s->buf + got, size - got);
        if (n <= 0) {
            if (n < 0 && errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    close(fd);
    if (!s->buf || got != size || (size > 0 && s->buf[size - 1] != '\0')) {
        spec_free(s);
        snprintf(err, errlen, "spec %s: truncated", path);
        return false;
    }
    s->buf[size] = '\0';
    char *p = s->buf, *end = s->buf + size;
    while (p < end) {
        char *key = p;
        p += strlen(p) + 1;
        if (p >= end) {
            spec_free(s);
            snprintf(err, errlen, "spec %s: key \"%s\" has no value", path, key);
            return false;
        }
        char *value = p;
        p += strlen(p) + 1;
        if (!spec_apply(s, key, value, err, errlen)) {
            spec_free(s);
            return false;
        }
    }
    if (s->argc == 0) {
        spec_free(s);
        snprintf(err, errlen, "no command specified");
        return false;
    }
    if (!s->envp) {
        char *none = NULL;
        size_t zero = 0;
        push((void **)&s->envp, &zero, sizeof none, &none, false);
    }
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Running a program the way runc does                                                         */

static const char *env_lookup(char *const envp[], const char *name)
{
    size_t n = strlen(name);
    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

static void exec_failed(const char *file, int error, char *err, size_t errlen)
{
    char tmp[128];
    if (error == ENOENT)
        snprintf(err, errlen, "exec: \"%s\": stat %s: no such file or directory", file, file);
    else
        snprintf(err, errlen, "exec: \"%s\": %s", file, lower_strerror(error, tmp));
}

/*
 * Exec argv. A name without '/' is looked up in the PATH of the program's own environment
 * (execvp would use ours) like Go's exec.LookPath in runc, so errors read as Docker's do:
 * exec: "foo": executable file not found in $PATH. Returns only on failure, with the message.
 * The return value is the exit status a shell would give: 127 not found, 126 not executable.
 */
static int exec_program(char *const argv[], char *const envp[], char *err, size_t errlen)
{
    const char *file = argv[0];
    if (strchr(file, '/')) {
        execve(file, argv, envp);
        int error = errno;
        exec_failed(file, error, err, errlen);
        return error == ENOENT ? 127 : 126;
    }
    const char *path = env_lookup(envp, "PATH");
    if (!path)
        path = DEFAULT_PATH;
    char candidate[PATH_MAX];
    const char *p = path;
    for (;;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        int n = len ? snprintf(candidate, sizeof candidate, "%.*s/%s", (int)len, p, file)
                    : snprintf(candidate, sizeof candidate, "./%s", file);
        struct stat st;
        if (n > 0 && (size_t)n < sizeof candidate && stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
            (st.st_mode & 0111)) {
            execve(candidate, argv, envp);
            int error = errno;
            exec_failed(candidate, error, err, errlen);
            return 126;
        }
        if (!colon)
            break;
        p = colon + 1;
    }
    snprintf(err, errlen, "exec: \"%s\": executable file not found in $PATH", file);
    return 127;
}

/* ------------------------------------------------------------------------------------------ */
/* Inside a new container (the clone child), up to exec                                        */

struct child_args {
    struct spec *spec;
    int out_w, err_w, errpipe_w, devnull, self_exe;
    bool joined; /* a zygote: already in the container's cgroups */
};

static void reset_signals(void)
{
    /* Ignored signals stay ignored across exec, and the shim ignores and blocks some. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return -1;                                                                                 \
    } while (0)

static int write_file(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = write_all(fd, value, strlen(value));
    close(fd);
    return rc;
}

/* Join every cgroup (v1: one per hierarchy) before exec, so limits hold from the first instruction. */
static int join_cgroups(const char *const *dirs, size_t n, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[128];
    for (size_t i = 0; i < n; i++) {
        if (pathf(path, "%s/cgroup.procs", dirs[i]) < 0 || write_file(path, "0") < 0)
            FAIL("failed to join cgroup %s: %s", dirs[i], lower_strerror(errno, tmp));
    }
    return 0;
}

static int mkdirs(const char *path, mode_t mode)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, mode) < 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    return mkdir(buf, mode) < 0 && errno != EEXIST ? -1 : 0;
}

/* A bind mount target under a root filesystem: created (file or directory like its source) if missing. */
static int ensure_mountpoint(const char *target, const char *source)
{
    struct stat st;
    if (stat(target, &st) == 0)
        return 0;
    struct stat src;
    if (stat(source, &src) < 0)
        return -1;
    if (S_ISDIR(src.st_mode))
        return mkdirs(target, 0755);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", target);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
        *slash = '\0';
        if (mkdirs(parent, 0755) < 0)
            return -1;
    }
    int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

static int bind_mount(const char *source, const char *target, bool readonly, bool create, char *err, size_t errlen)
{
    char tmp[128];
    if (create && ensure_mountpoint(target, source) < 0)
        FAIL("bind mount %s: %s", target, lower_strerror(errno, tmp));
    if (mount(source, target, NULL, MS_BIND, NULL) < 0)
        FAIL("bind mount %s on %s: %s", source, target, lower_strerror(errno, tmp));
    if (readonly && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        FAIL("remount %s read-only: %s", target, lower_strerror(errno, tmp));
    return 0;
}

/* /dev of an image root: a tmpfs with the host's harmless device nodes bound in. */
static int setup_dev(const char *root, char *err, size_t errlen)
{
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"}, {"pts/ptmx", "ptmx"},
    };
    char dev[PATH_MAX], path[PATH_MAX], src[64], tmp[128];
    if (pathf(dev, "%s/dev", root) < 0 || mkdirs(dev, 0755) < 0 ||
        mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k") < 0)
        FAIL("mount /dev: %s", lower_strerror(errno, tmp));
    for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
        snprintf(src, sizeof src, "/dev/%s", nodes[i]);
        if (pathf(path, "%s/%s", dev, nodes[i]) < 0)
            FAIL("mount %s: %s", src, lower_strerror(errno, tmp));
        if (bind_mount(src, path, false, true, err, errlen) < 0)
            return -1;
    }
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (pathf(path, "%s/%s", dev, links[i][1]) < 0 || symlink(links[i][0], path) < 0)
            FAIL("symlink /dev/%s: %s", links[i][1], lower_strerror(errno, tmp));
    if (pathf(path, "%s/shm", dev) < 0 || mkdir(path, 01777) < 0 || pathf(path, "%s/pts", dev) < 0 ||
        mkdir(path, 0755) < 0)
        FAIL("mkdir in /dev: %s", lower_strerror(errno, tmp));
    return 0;
}

/* The image as the lower layer of an overlay whose upper layer is the container's own; the merged
 * directory (allocated: the child execs or exits soon after), or NULL with the reason in err. */
static const char *overlay_root(const struct spec *s, char *err, size_t errlen)
{
    char diff[PATH_MAX], work[PATH_MAX], merged[PATH_MAX], options[3 * PATH_MAX + 64], tmp[128];
    if (strpbrk(s->rootfs, ",:") || strpbrk(s->rootfs_upper, ",:")) {
        snprintf(err, errlen, "overlay root: paths with ',' or ':' cannot be overlay layers");
        return NULL;
    }
    if (pathf(diff, "%s/diff", s->rootfs_upper) < 0 || pathf(work, "%s/work", s->rootfs_upper) < 0 ||
        pathf(merged, "%s/merged", s->rootfs_upper) < 0 || mkdirs(diff, 0755) < 0 || mkdirs(work, 0700) < 0 ||
        mkdirs(merged, 0755) < 0) {
        snprintf(err, errlen, "make the container's writable layer: %s", lower_strerror(errno, tmp));
        return NULL;
    }
    snprintf(options, sizeof options, "lowerdir=%s,upperdir=%s,workdir=%s", s->rootfs, diff, work);
    if (mount("overlay", merged, "overlay", 0, options) < 0) {
        snprintf(err, errlen, "mount overlay root: %s", lower_strerror(errno, tmp));
        return NULL;
    }
    const char *copy = strdup(merged);
    if (!copy)
        snprintf(err, errlen, "out of memory");
    return copy;
}

/* Pivot into an image's root filesystem, with /dev, /sys and the task's files mounted inside. */
static int setup_rootfs(const struct spec *s, char *err, size_t errlen)
{
    char path[PATH_MAX], tmp[128];
    const char *root = s->rootfs;
    if (s->rootfs_upper && !(root = overlay_root(s, err, errlen)))
        return -1;
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
        FAIL("bind mount root filesystem %s: %s", root, lower_strerror(errno, tmp));
    if (setup_dev(root, err, errlen) < 0)
        return -1;
    if (pathf(path, "%s/proc", root) < 0 || mkdirs(path, 0555) < 0 || pathf(path, "%s/sys", root) < 0 ||
        mkdirs(path, 0555) < 0)
        FAIL("mkdir /proc and /sys in %s: %s", root, lower_strerror(errno, tmp));
    /* A sysfs mounted from inside the task's network namespace shows its own interfaces. */
    if (mount("sysfs", path, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 &&
        (mount("/sys", path, NULL, MS_BIND | MS_REC, NULL) < 0 ||
         mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0))
        FAIL("mount /sys: %s", lower_strerror(errno, tmp));
    for (size_t i = 0; i < s->nbinds; i++) {
        if (pathf(path, "%s%s", root, s->binds[i].target) < 0)
            FAIL("bind mount %s: %s", s->binds[i].target, lower_strerror(errno, tmp));
        if (bind_mount(s->binds[i].source, path, s->binds[i].readonly, true, err, errlen) < 0)
            return -1;
    }
    /* pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the image. */
    if (chdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        FAIL("pivot_root %s: %s", root, lower_strerror(errno, tmp));
    return 0;
}

static int setup_mounts(const struct spec *s, char *err, size_t errlen)
{
    char tmp[128];
    /* Slave, not private: the host's later mounts still show up; ours never leak out. */
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        FAIL("make mounts slave: %s", lower_strerror(errno, tmp));
    if (s->rootfs) {
        if (setup_rootfs(s, err, errlen) < 0)
            return -1;
    } else {
        for (size_t i = 0; i < s->nbinds; i++)
            if (bind_mount(s->binds[i].source, s->binds[i].target, s->binds[i].readonly, false, err, errlen) < 0)
                return -1;
    }
    /* A /proc of the new PID namespace: the container sees itself as PID 1 and nothing else. */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        FAIL("mount /proc: %s", lower_strerror(errno, tmp));
    struct stat st;
    if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
        mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
        FAIL("mount /dev/shm: %s", lower_strerror(errno, tmp));
    if (s->readonly && mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
        FAIL("remount root filesystem read-only: %s", lower_strerror(errno, tmp));
    return 0;
}

static int setup_identity(const struct spec *s, char *err, size_t errlen)
{
    char tmp[128];
    for (size_t i = 0; i < s->nrlimits; i++)
        if (setrlimit(s->rlimits[i].resource, &s->rlimits[i].limit) < 0)
            FAIL("failed to set ulimit %s: %s", s->rlimits[i].name, lower_strerror(errno, tmp));
    if (setgroups(s->ngroups, s->groups) < 0)
        FAIL("setgroups: %s", lower_strerror(errno, tmp));
    if (setgid(s->gid) < 0)
        FAIL("setgid %u: %s", (unsigned)s->gid, lower_strerror(errno, tmp));
    if (setuid(s->uid) < 0)
        FAIL("setuid %u: %s", (unsigned)s->uid, lower_strerror(errno, tmp));
    const char *cwd = s->cwd ? s->cwd : "/";
    if (chdir(cwd) < 0)
        FAIL("chdir to cwd (\"%s\") failed: %s", cwd, lower_strerror(errno, tmp));
    return 0;
}

static int setup_container(struct child_args *a, char *err, size_t errlen)
{
    struct spec *s = a->spec;
    char tmp[128];
    reset_signals();
    /* Its own session and process group, so a signal reaches every process of the container. */
    if (setsid() < 0)
        FAIL("setsid: %s", lower_strerror(errno, tmp));
    if (dup2(a->devnull, STDIN_FILENO) < 0 || dup2(a->out_w, STDOUT_FILENO) < 0 || dup2(a->err_w, STDERR_FILENO) < 0)
        FAIL("redirect output: %s", lower_strerror(errno, tmp));
    /* The shim protects itself from the OOM killer; the container must not inherit that. */
    write_file("/proc/self/oom_score_adj", "0");
    if (!a->joined && join_cgroups(s->cgroups, s->ncgroups, err, errlen) < 0)
        return -1;
    if (s->netns) {
        int fd = open(s->netns, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
            FAIL("join network namespace %s: %s", s->netns, lower_strerror(errno, tmp));
        close(fd);
    }
    if (setup_mounts(s, err, errlen) < 0)
        return -1;
    if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
        FAIL("sethostname: %s", lower_strerror(errno, tmp));
    umask(022);
    return setup_identity(s, err, errlen);
}

static int container_main(void *arg)
{
    struct child_args *a = arg;
    char err[ERR_MAX];
    if (setup_container(a, err, sizeof err) == 0) {
        if (a->spec->init) {
            /* PID 1 is the shim's own reaper (initProcessEnabled); it reports exec errors itself. */
            char fdarg[16];
            snprintf(fdarg, sizeof fdarg, "%d", a->errpipe_w);
            size_t n = a->spec->argc + 5;
            char **argv = calloc(n, sizeof *argv);
            if (argv && fcntl(a->errpipe_w, F_SETFD, 0) == 0) {
                argv[0] = "ecslite-init";
                argv[1] = "init";
                argv[2] = fdarg;
                argv[3] = "--";
                memcpy(argv + 4, a->spec->argv, a->spec->argc * sizeof *argv);
                fexecve(a->self_exe, argv, a->spec->envp);
            }
            char tmp[128];
            snprintf(err, sizeof err, "exec init: %s", lower_strerror(errno, tmp));
        } else {
            exec_program(a->spec->argv, a->spec->envp, err, sizeof err);
        }
    }
    write_all(a->errpipe_w, err, strlen(err));
    _exit(127);
}

/* ------------------------------------------------------------------------------------------ */
/* init mode: PID 1 that reaps and forwards (ECS initProcessEnabled, like docker --init)       */

static int status_code(int status)
{
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static int init_main(int argc, char **argv)
{
    if (argc < 5 || strcmp(argv[3], "--") != 0) {
        fprintf(stderr, "usage: ecslite-shim init FD -- ARGV...\n");
        return 2;
    }
    int errfd = atoi(argv[2]);
    fcntl(errfd, F_SETFD, FD_CLOEXEC);
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    sigprocmask(SIG_BLOCK, &all, NULL);
    pid_t child = fork();
    if (child < 0) {
        char tmp[128], err[ERR_MAX];
        snprintf(err, sizeof err, "init: fork: %s", lower_strerror(errno, tmp));
        write_all(errfd, err, strlen(err));
        return 127;
    }
    if (child == 0) {
        /* The program gets a process group of its own; signals for the container go to all of it. */
        setpgid(0, 0);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char err[ERR_MAX];
        int code = exec_program(argv + 4, environ, err, sizeof err);
        write_all(errfd, err, strlen(err));
        _exit(code);
    }
    setpgid(child, child);
    close(errfd);
    for (;;) {
        siginfo_t info;
        int sig = sigwaitinfo(&all, &info);
        if (sig < 0)
            continue;
        if (sig != SIGCHLD) {
            if (kill(-child, sig) < 0)
                kill(child, sig);
            continue;
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
            if (pid == child)
                return status_code(status); /* the kernel ends the rest of the namespace with us */
    }
}

/* ------------------------------------------------------------------------------------------ */
/* exec mode: a command inside a running container (health checks, ECS Exec)                   */

static int exec_main(int argc, char **argv)
{
    const char *usage = "usage: ecslite-shim exec PID [--start-ticks N] [--cgroup DIR]... "
                        "[--rlimit \"NAME SOFT HARD\"]... [--uid N] [--gid N] [--groups G,G] [--cwd DIR] -- ARGV...\n";
    struct spec s;
    memset(&s, 0, sizeof s);
    unsigned long pid = 0, num;
    unsigned long long start_ticks = 0;
    int i = 3;
    if (argc < 3 || !parse_ulong(argv[2], INT_MAX, &pid)) {
        fputs(usage, stderr);
        return 125;
    }
    for (; i < argc && strcmp(argv[i], "--") != 0; i += 2) {
        if (i + 1 >= argc) {
            fputs(usage, stderr);
            return 125;
        }
        const char *opt = argv[i];
        char *value = argv[i + 1];
        if (strcmp(opt, "--start-ticks") == 0) {
            start_ticks = strtoull(value, NULL, 10);
        } else if (strcmp(opt, "--cgroup") == 0) {
            const char *dir = value;
            push((void **)&s.cgroups, &s.ncgroups, sizeof dir, &dir, false);
        } else if (strcmp(opt, "--rlimit") == 0) {
            struct rlimit_item item;
            if (!parse_rlimit(value, &item) || !push((void **)&s.rlimits, &s.nrlimits, sizeof item, &item, false)) {
                fputs(usage, stderr);
                return 125;
            }
        } else if (strcmp(opt, "--uid") == 0 && parse_ulong(value, UINT_MAX - 1, &num)) {
            s.uid = (uid_t)num;
        } else if (strcmp(opt, "--gid") == 0 && parse_ulong(value, UINT_MAX - 1, &num)) {
            s.gid = (gid_t)num;
        } else if (strcmp(opt, "--groups") == 0 && (value[0] == '\0' || parse_groups(value, &s))) {
            continue;
        } else if (strcmp(opt, "--cwd") == 0) {
            s.cwd = value;
        } else {
            fputs(usage, stderr);
            return 125;
        }
    }
    if (i + 1 >= argc) {
        fputs(usage, stderr);
        return 125;
    }
    char **program = argv + i + 1;
    char path[64], tmp[128], err[ERR_MAX];
    static const struct {
        const char *name;
        int type;
    } ns[] = {{"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS}, {"net", CLONE_NEWNET}, {"pid", CLONE_NEWPID},
              {"mnt", CLONE_NEWNS}};
    int fds[5];
    /* Open everything first: once in the container's mount namespace, /proc is the container's. */
    for (size_t k = 0; k < 5; k++) {
        snprintf(path, sizeof path, "/proc/%lu/ns/%s", pid, ns[k].name);
        if ((fds[k] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            fprintf(stderr, "container process %lu: %s\n", pid, lower_strerror(errno, tmp));
            return 125;
        }
    }
    snprintf(path, sizeof path, "/proc/%lu/root", pid);
    int rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        fprintf(stderr, "container process %lu: %s\n", pid, lower_strerror(errno, tmp));
        return 125;
    }
    /* Checked after opening: the descriptors are of the container's process, not of one that
     * took its pid after it exited (its exit record can trail the exit while output drains). */
    if (start_ticks && process_start_ticks((pid_t)pid) != start_ticks) {
        fprintf(stderr, "container process %lu has exited\n", pid);
        return 125;
    }
    if (join_cgroups(s.cgroups, s.ncgroups, err, sizeof err) < 0) {
        fprintf(stderr, "%s\n", err);
        return 125;
    }
    for (size_t k = 0; k < 5; k++)
        if (setns(fds[k], ns[k].type) < 0) {
            fprintf(stderr, "join %s namespace of %lu: %s\n", ns[k].name, pid, lower_strerror(errno, tmp));
            return 125;
        }
    if (fchdir(rootfd) < 0 || chroot(".") < 0) {
        fprintf(stderr, "enter root of %lu: %s\n", pid, lower_strerror(errno, tmp));
        return 125;
    }
    /* A new PID namespace applies to children only. */
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "fork: %s\n", lower_strerror(errno, tmp));
        return 125;
    }
    if (child == 0) {
        int code = 126;
        /* On a terminal (ECS Exec): the command leads its own session with the terminal as its
         * controlling terminal, inside the container's PID namespace, as docker exec -t does; a
         * shell's job control then sees process groups it can name. */
        if (isatty(STDIN_FILENO) && (setsid() < 0 || ioctl(STDIN_FILENO, TIOCSCTTY, 0) < 0)) {
            fprintf(stderr, "take the terminal: %s\n", lower_strerror(errno, tmp));
            _exit(125);
        }
        if (setup_identity(&s, err, sizeof err) == 0)
            code = exec_program(program, environ, err, sizeof err);
        fprintf(stderr, "%s\n", err);
        _exit(code);
    }
    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR)
            return 125;
    return status_code(status);
}

/* ------------------------------------------------------------------------------------------ */
/* The shim server                                                                             */

enum cstate { C_FREE, C_RUNNING, C_REAPED, C_EXITED };

struct stream {
    int fd;
    const char *label;
    char *buf;
    size_t len;
};

struct container {
    enum cstate state;
    char name[256];
    pid_t pid;
    struct stream out, err;
    int log_fd;
    int code, signo;
    struct timespec started, finished;
    unsigned long long start_ticks;
    int stop_signal;
    int64_t drain_deadline;
};

struct client {
    int fd; /* -1: free slot */
    char in[REQUEST_MAX];
    size_t in_len;
    char *out;
    size_t out_len, out_cap;
};

static int g_dirfd = -1, g_self_exe = -1, g_devnull = -1, g_listen = -1, g_sigfd = -1;
static bool g_shutdown;
static struct container g_containers[MAX_CONTAINERS];
static struct client g_clients[MAX_CLIENTS];
static char g_batch[BATCH_MAX];
static size_t g_batch_len;

static struct container *find_container(const char *name)
{
    for (size_t i = 0; i < MAX_CONTAINERS; i++)
        if (g_containers[i].state != C_FREE && strcmp(g_containers[i].name, name) == 0)
            return &g_containers[i];
    return NULL;
}

static bool any_live(void)
{
    for (size_t i = 0; i < MAX_CONTAINERS; i++)
        if (g_containers[i].state == C_RUNNING || g_containers[i].state == C_REAPED)
            return true;
    return false;
}

/* -- clients -- */

static void client_drop(struct client *c)
{
    close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
    c->in_len = c->out_len = c->out_cap = 0;
}

static void client_flush(struct client *c)
{
    while (c->fd >= 0 && c->out_len > 0) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_drop(c);
            return;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
}

static void client_send(struct client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void client_send(struct client *c, const char *fmt, ...)
{
    if (c->fd < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t need = c->out_len + (size_t)n + 1;
    if (need > CLIENT_OUT_MAX) {
        /* It does not read: drop it rather than block or grow without bound. It reconnects and reads files. */
        logmsg("dropping a client that does not read its answers");
        client_drop(c);
        return;
    }
    if (need > c->out_cap) {
        size_t cap = need < 4096 ? 4096 : need * 2;
        char *grown = realloc(c->out, cap);
        if (!grown) {
            client_drop(c);
            return;
        }
        c->out = grown;
        c->out_cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(c->out + c->out_len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    c->out_len += (size_t)n;
    client_flush(c);
}

static void broadcast_exit(const struct container *ct)
{
    char when[40];
    fmt_time(&ct->finished, when);
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (g_clients[i].fd >= 0)
            client_send(&g_clients[i], "event exit %s %d %s\n", ct->name, ct->code, when);
}

/* -- output -- */

static void batch_flush(struct container *c)
{
    if (g_batch_len && c->log_fd >= 0 && write_all(c->log_fd, g_batch, g_batch_len) < 0)
        logmsg("%s: writing output: %s", c->name, strerror(errno));
    g_batch_len = 0;
}

static void emit(struct container *c, const char *label, const char *when, const char *data, size_t len)
{
    size_t need = strlen(when) + strlen(label) + len + 3;
    if (g_batch_len + need > BATCH_MAX)
        batch_flush(c);
    g_batch_len += (size_t)snprintf(g_batch + g_batch_len, BATCH_MAX - g_batch_len, "%s %s ", when, label);
    memcpy(g_batch + g_batch_len, data, len);
    g_batch_len += len;
    g_batch[g_batch_len++] = '\n';
}

static void consume(struct container *c, struct stream *s, const char *data, size_t len, const char *when)
{
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        size_t room = LINE_MAX_BYTES - s->len;
        if (take >= room) {
            /* 16 KiB without a newline: what is buffered plus enough of this becomes one record. */
            memcpy(s->buf + s->len, data, room);
            emit(c, s->label, when, s->buf, LINE_MAX_BYTES);
            s->len = 0;
            data += room;
            len -= room;
            continue;
        }
        if (!nl) {
            memcpy(s->buf + s->len, data, take);
            s->len += take;
            return;
        }
        if (s->len) {
            memcpy(s->buf + s->len, data, take);
            emit(c, s->label, when, s->buf, s->len + take);
            s->len = 0;
        } else {
            emit(c, s->label, when, data, take);
        }
        data += take + 1;
        len -= take + 1;
    }
}

static void stream_close(struct container *c, struct stream *s, const char *when)
{
    if (s->fd < 0)
        return;
    if (s->len) {
        emit(c, s->label, when, s->buf, s->len);
        s->len = 0;
    }
    batch_flush(c);
    close(s->fd);
    s->fd = -1;
    free(s->buf);
    s->buf = NULL;
}

/* Read what the stream has now; at end of file (or error) close it. */
static void stream_read(struct container *c, struct stream *s)
{
    char data[65536], when[40];
    struct timespec ts;
    for (int rounds = 0; rounds < 16 && s->fd >= 0; rounds++) {
        ssize_t n = read(s->fd, data, sizeof data);
        clock_gettime(CLOCK_REALTIME, &ts);
        fmt_time(&ts, when);
        if (n > 0) {
            consume(c, s, data, (size_t)n, when);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        stream_close(c, s, when);
    }
    batch_flush(c);
}

/* -- the zygote -- */

#define ZYGOTE_CGROUPS_MAX 16

struct zygote {
    pid_t pid; /* 0: none */
    int go_w, out_r, err_r, ep_r;
};

static struct zygote g_zygote = {.pid = 0, .go_w = -1, .out_r = -1, .err_r = -1, .ep_r = -1};

static void zygote_forget(void)
{
    for (int *fd = &g_zygote.go_w; fd <= &g_zygote.ep_r; fd++)
        if (*fd >= 0) {
            close(*fd);
            *fd = -1;
        }
    g_zygote.pid = 0;
}

/* -- exits -- */

/* The exit is final once the process is reaped and its output is read to the end (or the grace ran out). */
static void maybe_finalize(struct container *c, bool force)
{
    if (c->state != C_REAPED || (!force && (c->out.fd >= 0 || c->err.fd >= 0)))
        return;
    char when[40], record[160];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    fmt_time(&ts, when);
    stream_read(c, &c->out);
    stream_read(c, &c->err);
    stream_close(c, &c->out, when);
    stream_close(c, &c->err, when);
    close(c->log_fd);
    c->log_fd = -1;
    fmt_time(&c->finished, when);
    snprintf(record, sizeof record, "code=%d\nsignal=%d\nfinished_at=%s\n", c->code, c->signo, when);
    char name[300];
    snprintf(name, sizeof name, "%s.exit", c->name);
    if (write_record(g_dirfd, name, record) < 0)
        logmsg("%s: writing %s: %s", c->name, name, strerror(errno));
    c->state = C_EXITED;
    broadcast_exit(c);
}

static void reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == g_zygote.pid) {
            logmsg("the zygote (pid %d) exited before it was used", (int)pid);
            zygote_forget();
            continue;
        }
        for (size_t i = 0; i < MAX_CONTAINERS; i++) {
            struct container *c = &g_containers[i];
            if (c->state != C_RUNNING || c->pid != pid)
                continue;
            clock_gettime(CLOCK_REALTIME, &c->finished);
            c->code = status_code(status);
            c->signo = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
            c->state = C_REAPED;
            c->drain_deadline = mono_ns() + DRAIN_GRACE_NS;
            maybe_finalize(c, false);
        }
    }
}

/* -- requests -- */

static bool wait_for_exec(int fd, char *msg, size_t msglen)
{
    /* The pipe closes on exec (O_CLOEXEC): EOF with no bytes means the program runs. */
    size_t got = 0;
    int64_t deadline = mono_ns() + (int64_t)START_TIMEOUT_MS * 1000000LL;
    for (;;) {
        int left = (int)((deadline - mono_ns()) / 1000000LL);
        if (left <= 0) {
            snprintf(msg, msglen, "the container's process did not start within %d seconds", START_TIMEOUT_MS / 1000);
            return false;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int r = poll(&p, 1, left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        ssize_t n = read(fd, msg + got, msglen - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            msg[got] = '\0';
            return got == 0;
        }
        got += (size_t)n;
        if (got >= msglen - 1) {
            msg[got] = '\0';
            return false;
        }
    }
}

static void reply_state(struct client *cl, const struct container *c)
{
    char when[40];
    fmt_time(&c->started, when);
    client_send(cl, "ok %d %s %llu\n", (int)c->pid, when, c->start_ticks);
}

static int start_process(struct spec *s, struct container *c, char *msg, size_t msglen)
{
    int out[2] = {-1, -1}, err[2] = {-1, -1}, ep[2] = {-1, -1};
    char tmp[128], logname[300];
    snprintf(logname, sizeof logname, "%s.log", c->name);
    c->log_fd = openat(g_dirfd, logname, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    char *out_buf = malloc(LINE_MAX_BYTES), *err_buf = malloc(LINE_MAX_BYTES);
    void *stack = MAP_FAILED;
    if (!out_buf || !err_buf)
        errno = ENOMEM;
    if (!out_buf || !err_buf || c->log_fd < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 ||
        pipe2(ep, O_CLOEXEC) < 0 ||
        (stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) ==
            MAP_FAILED) {
        snprintf(msg, msglen, "prepare container: %s", lower_strerror(errno, tmp));
        goto fail;
    }
    struct child_args args = {
        .spec = s, .out_w = out[1], .err_w = err[1], .errpipe_w = ep[1], .devnull = g_devnull, .self_exe = g_self_exe};
    /* The stack is only the child's (no CLONE_VM): its copy survives our munmap. */
    c->pid = clone(container_main, (char *)stack + STACK_SIZE,
                   CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, &args);
    int clone_errno = errno;
    munmap(stack, STACK_SIZE);
    close(out[1]);
    close(err[1]);
    close(ep[1]);
    out[1] = err[1] = ep[1] = -1;
    if (c->pid < 0) {
        snprintf(msg, msglen, "clone: %s", lower_strerror(clone_errno, tmp));
        goto fail;
    }
    bool ok = wait_for_exec(ep[0], msg, msglen);
    close(ep[0]);
    ep[0] = -1;
    if (!ok) {
        kill(c->pid, SIGKILL);
        while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR) {
        }
        goto fail;
    }
    clock_gettime(CLOCK_REALTIME, &c->started);
    c->out = (struct stream){.fd = out[0], .label = "stdout", .buf = out_buf};
    c->err = (struct stream){.fd = err[0], .label = "stderr", .buf = err_buf};
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    fcntl(err[0], F_SETFL, O_NONBLOCK);
    return 0;
fail:
    free(out_buf);
    free(err_buf);
    for (int *fd = &out[0]; fd <= &out[1]; fd++)
        if (*fd >= 0)
            close(*fd);
    for (int *fd = &err[0]; fd <= &err[1]; fd++)
        if (*fd >= 0)
            close(*fd);
    if (ep[0] >= 0)
        close(ep[0]);
    if (c->log_fd >= 0) {
        struct stat st;
        /* A container that never ran leaves no output file behind (unless an earlier run wrote one). */
        if (fstat(c->log_fd, &st) == 0 && st.st_size == 0)
            unlinkat(g_dirfd, logname, 0);
        close(c->log_fd);
    }
    c->log_fd = -1;
    return -1;
}

/* -- the zygote (see the header) -- */

struct zygote_args {
    const char **cgroups;
    size_t ncgroups;
    int go_r, out_w, err_w, ep_w;
};

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Close every descriptor but keep[] (and 0-2): a zygote waits long, and must not hold the shim's
 * lock, socket or clients (a dead shim would still look alive to the runtime). */
static void close_except(int *keep, size_t n)
{
    qsort(keep, n, sizeof *keep, cmp_int);
    unsigned int from = 3;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < (int)from)
            continue;
        if ((unsigned int)keep[i] > from)
            close_range(from, (unsigned int)keep[i] - 1, 0);
        from = (unsigned int)keep[i] + 1;
    }
    close_range(from, ~0U, 0);
}

static int zygote_main(void *arg)
{
    struct zygote_args *z = arg;
    char err[ERR_MAX], name[300], specname[320];
    int keep[] = {g_dirfd, g_devnull, g_self_exe, z->go_r, z->out_w, z->err_w, z->ep_w};
    close_except(keep, sizeof keep / sizeof keep[0]);
    reset_signals();
    write_file("/proc/self/oom_score_adj", "0");
    if (join_cgroups(z->cgroups, z->ncgroups, err, sizeof err) < 0)
        goto fail;
    /* In its cgroups: from now on the runtime may rename them (the shim answers once it reads this). */
    if (write_all(z->ep_w, "R", 1) < 0)
        _exit(0);
    size_t got = 0;
    for (;;) {
        ssize_t n = read(z->go_r, name + got, sizeof name - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            _exit(0); /* the shim let go of us (or died): nobody to start */
        got += (size_t)n;
        name[got] = '\0';
        char *nl = strchr(name, '\n');
        if (nl) {
            *nl = '\0';
            break;
        }
        if (got == sizeof name - 1)
            _exit(0);
    }
    close(z->go_r);
    struct spec s;
    snprintf(specname, sizeof specname, "%s.spec", name);
    if (!spec_load(g_dirfd, specname, &s, err, sizeof err))
        goto fail;
    struct child_args a = {.spec = &s,
                           .out_w = z->out_w,
                           .err_w = z->err_w,
                           .errpipe_w = z->ep_w,
                           .devnull = g_devnull,
                           .self_exe = g_self_exe,
                           .joined = true};
    return container_main(&a);
fail:
    write_all(z->ep_w, err, strlen(err));
    _exit(127);
}

static void handle_zygote(struct client *cl, char *dirs)
{
    if (g_zygote.pid > 0) {
        client_send(cl, "ok %d\n", (int)g_zygote.pid);
        return;
    }
    if (g_shutdown) {
        client_send(cl, "err the shim is shutting down\n");
        return;
    }
    const char *cgroups[ZYGOTE_CGROUPS_MAX];
    size_t n = 0;
    for (char *tok = strtok(dirs, " "); tok; tok = strtok(NULL, " ")) {
        if (n == ZYGOTE_CGROUPS_MAX) {
            client_send(cl, "err more than %d cgroups\n", ZYGOTE_CGROUPS_MAX);
            return;
        }
        cgroups[n++] = tok;
    }
    int fds[8] = {-1, -1, -1, -1, -1, -1, -1, -1}; /* go, out, err, ep: read and write ends */
    char tmp[128];
    void *stack = MAP_FAILED;
    if (pipe2(fds, O_CLOEXEC) < 0 || pipe2(fds + 2, O_CLOEXEC) < 0 || pipe2(fds + 4, O_CLOEXEC) < 0 ||
        pipe2(fds + 6, O_CLOEXEC) < 0 ||
        (stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0)) ==
            MAP_FAILED) {
        client_send(cl, "err prepare zygote: %s\n", lower_strerror(errno, tmp));
        for (size_t i = 0; i < 8; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        return;
    }
    struct zygote_args args = {
        .cgroups = cgroups, .ncgroups = n, .go_r = fds[0], .out_w = fds[3], .err_w = fds[5], .ep_w = fds[7]};
    /* The stack is only the child's (no CLONE_VM): its copy survives our munmap. */
    pid_t pid = clone(zygote_main, (char *)stack + STACK_SIZE,
                      CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, &args);
    int clone_errno = errno;
    munmap(stack, STACK_SIZE);
    close(fds[0]);
    close(fds[3]);
    close(fds[5]);
    close(fds[7]);
    if (pid < 0) {
        close(fds[1]);
        close(fds[2]);
        close(fds[4]);
        close(fds[6]);
        client_send(cl, "err clone: %s\n", lower_strerror(clone_errno, tmp));
        return;
    }
    g_zygote = (struct zygote){.pid = pid, .go_w = fds[1], .out_r = fds[2], .err_r = fds[4], .ep_r = fds[6]};
    /* Answered once it is in its cgroups (one byte), so the runtime never renames them under it. */
    char msg[ERR_MAX];
    size_t got = 0;
    int64_t deadline = mono_ns() + (int64_t)START_TIMEOUT_MS * 1000000LL;
    while (got < sizeof msg - 1) {
        int left = (int)((deadline - mono_ns()) / 1000000LL);
        struct pollfd pfd = {.fd = g_zygote.ep_r, .events = POLLIN};
        if (left <= 0 || (poll(&pfd, 1, left) < 0 && errno != EINTR))
            break;
        ssize_t r = read(g_zygote.ep_r, msg + got, got == 0 ? 1 : sizeof msg - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == 1 && msg[0] == 'R') {
            client_send(cl, "ok %d\n", (int)pid);
            return;
        }
    }
    msg[got] = '\0';
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    zygote_forget();
    for (char *c = msg; *c; c++)
        if (*c == '\n')
            *c = ' ';
    client_send(cl, "err %s\n", got ? msg : "the zygote did not get ready");
}

/* Start c from the zygote: 1 when there is no live zygote (start as usual), else as start_process. */
static int start_from_zygote(struct container *c, char *msg, size_t msglen)
{
    if (g_zygote.pid <= 0)
        return 1;
    char tmp[128], logname[300], line[300];
    snprintf(line, sizeof line, "%s\n", c->name);
    if (write_all(g_zygote.go_w, line, strlen(line)) < 0) {
        /* It died waiting; the reaper collects it. */
        kill(g_zygote.pid, SIGKILL);
        zygote_forget();
        return 1;
    }
    struct zygote z = g_zygote;
    g_zygote = (struct zygote){.pid = 0, .go_w = -1, .out_r = -1, .err_r = -1, .ep_r = -1};
    close(z.go_w);
    c->pid = z.pid;
    snprintf(logname, sizeof logname, "%s.log", c->name);
    c->log_fd = openat(g_dirfd, logname, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    int open_errno = errno;
    char *out_buf = malloc(LINE_MAX_BYTES), *err_buf = malloc(LINE_MAX_BYTES);
    bool ok = out_buf && err_buf && c->log_fd >= 0;
    if (!ok)
        snprintf(msg, msglen, "prepare container: %s", lower_strerror(c->log_fd < 0 ? open_errno : ENOMEM, tmp));
    else
        ok = wait_for_exec(z.ep_r, msg, msglen);
    close(z.ep_r);
    if (!ok) {
        kill(z.pid, SIGKILL);
        while (waitpid(z.pid, NULL, 0) < 0 && errno == EINTR) {
        }
        free(out_buf);
        free(err_buf);
        close(z.out_r);
        close(z.err_r);
        if (c->log_fd >= 0) {
            struct stat st;
            /* A container that never ran leaves no output file behind (unless an earlier run wrote one). */
            if (fstat(c->log_fd, &st) == 0 && st.st_size == 0)
                unlinkat(g_dirfd, logname, 0);
            close(c->log_fd);
        }
        c->log_fd = -1;
        return -1;
    }
    clock_gettime(CLOCK_REALTIME, &c->started);
    c->out = (struct stream){.fd = z.out_r, .label = "stdout", .buf = out_buf};
    c->err = (struct stream){.fd = z.err_r, .label = "stderr", .buf = err_buf};
    fcntl(z.out_r, F_SETFL, O_NONBLOCK);
    fcntl(z.err_r, F_SETFL, O_NONBLOCK);
    return 0;
}

static void handle_start(struct client *cl, const char *name, bool zygote)
{
    if (!valid_name(name)) {
        client_send(cl, "err invalid container name\n");
        return;
    }
    struct container *c = find_container(name);
    if (c) {
        reply_state(cl, c); /* idempotent: a retried start finds the same container */
        return;
    }
    if (g_shutdown) {
        client_send(cl, "err the shim is shutting down\n");
        return;
    }
    for (size_t i = 0; i < MAX_CONTAINERS && !c; i++)
        if (g_containers[i].state == C_FREE)
            c = &g_containers[i];
    if (!c) {
        client_send(cl, "err more than %d containers in one task\n", MAX_CONTAINERS);
        return;
    }
    char specname[300], msg[ERR_MAX];
    snprintf(specname, sizeof specname, "%s.spec", name);
    struct spec s;
    if (!spec_load(g_dirfd, specname, &s, msg, sizeof msg)) {
        client_send(cl, "err %s\n", msg);
        return;
    }
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    c->stop_signal = s.stop_signal ? s.stop_signal : SIGTERM;
    c->log_fd = -1;
    c->out.fd = c->err.fd = -1;
    int rc = zygote ? start_from_zygote(c, msg, sizeof msg) : 1;
    if (rc > 0)
        rc = start_process(&s, c, msg, sizeof msg);
    spec_free(&s);
    if (rc < 0) {
        memset(c, 0, sizeof *c); /* never started: the name is free for a retry */
        for (char *p = msg; *p; p++)
            if (*p == '\n')
                *p = ' ';
        client_send(cl, "err %s\n", msg);
        return;
    }
    c->state = C_RUNNING;
    char when[40], record[160], recname[300];
    fmt_time(&c->started, when);
    /* Not reaped yet, so the pid is still this container's process. */
    c->start_ticks = process_start_ticks(c->pid);
    snprintf(record, sizeof record, "pid=%d\nstarted_at=%s\nstart_ticks=%llu\n", (int)c->pid, when, c->start_ticks);
    snprintf(recname, sizeof recname, "%s.started", name);
    if (write_record(g_dirfd, recname, record) < 0)
        logmsg("%s: writing %s: %s", name, recname, strerror(errno));
    reply_state(cl, c);
}

static void handle_signal(struct client *cl, const char *name, const char *signum)
{
    unsigned long sig;
    struct container *c = find_container(name);
    if (!c) {
        client_send(cl, "err no container %s\n", name);
        return;
    }
    if (!signum)
        sig = (unsigned long)c->stop_signal;
    else if (!parse_ulong(signum, NSIG - 1, &sig) || sig == 0) {
        client_send(cl, "err invalid signal %s\n", signum);
        return;
    }
    /* Only while not reaped: until then the pid cannot belong to anyone else. */
    if (c->state == C_RUNNING && kill(-c->pid, (int)sig) < 0 && kill(c->pid, (int)sig) < 0 && errno != ESRCH) {
        client_send(cl, "err kill %s: %s\n", name, strerror(errno));
        return;
    }
    client_send(cl, "ok\n");
}

static void handle_status(struct client *cl)
{
    char line[MAX_CONTAINERS * 340 + 8];
    size_t n = (size_t)snprintf(line, sizeof line, "ok");
    for (size_t i = 0; i < MAX_CONTAINERS; i++) {
        const struct container *c = &g_containers[i];
        if (c->state == C_FREE)
            continue;
        char started[40], finished[40], code[16];
        fmt_time(&c->started, started);
        bool exited = c->state == C_EXITED;
        snprintf(finished, sizeof finished, "-");
        snprintf(code, sizeof code, "-");
        if (exited) {
            fmt_time(&c->finished, finished);
            snprintf(code, sizeof code, "%d", c->code);
        }
        n += (size_t)snprintf(line + n, sizeof line - n, " %s,%d,%s,%s,%s,%s", c->name, (int)c->pid, started,
                              exited ? "exited" : "running", code, finished);
    }
    client_send(cl, "%s\n", line);
}

static void handle_request(struct client *cl, char *line)
{
    if (strncmp(line, "zygote ", 7) == 0) {
        handle_zygote(cl, line + 7);
        return;
    }
    char *words[4] = {0};
    size_t n = 0;
    for (char *tok = strtok(line, " "); tok && n < 4; tok = strtok(NULL, " "))
        words[n++] = tok;
    if (n == 2 && strcmp(words[0], "start") == 0)
        handle_start(cl, words[1], false);
    else if (n == 3 && strcmp(words[0], "start") == 0 && strcmp(words[2], "zygote") == 0)
        handle_start(cl, words[1], true);
    else if (n == 3 && strcmp(words[0], "signal") == 0)
        handle_signal(cl, words[1], words[2]);
    else if (n == 2 && strcmp(words[0], "stop") == 0)
        handle_signal(cl, words[1], NULL);
    else if (n == 1 && strcmp(words[0], "status") == 0)
        handle_status(cl);
    else if (n == 1 && strcmp(words[0], "shutdown") == 0) {
        g_shutdown = true;
        if (g_zygote.pid > 0) {
            /* Its end of the pipe closes: it exits without starting anything. */
            close(g_zygote.go_w);
            g_zygote.go_w = -1;
        }
        client_send(cl, "ok\n");
    } else
        client_send(cl, "err unknown request\n");
}

static void client_read(struct client *cl)
{
    ssize_t n = recv(cl->fd, cl->in + cl->in_len, sizeof cl->in - cl->in_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        client_drop(cl);
        return;
    }
    cl->in_len += (size_t)n;
    char *start = cl->in;
    char *nl;
    while (cl->fd >= 0 && (nl = memchr(start, '\n', cl->in_len - (size_t)(start - cl->in)))) {
        *nl = '\0';
        handle_request(cl, start);
        start = nl + 1;
    }
    if (cl->fd < 0)
        return;
    cl->in_len -= (size_t)(start - cl->in);
    memmove(cl->in, start, cl->in_len);
    if (cl->in_len == sizeof cl->in)
        client_drop(cl); /* a request longer than any valid one */
}

static void accept_client(void)
{
    int fd = accept4(g_listen, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (g_clients[i].fd < 0) {
            g_clients[i].fd = fd;
            client_send(&g_clients[i], "hello ecslite-shim %d %d\n", PROTOCOL_VERSION, (int)getpid());
            return;
        }
    }
    logmsg("refusing a client: %d already connected", MAX_CLIENTS);
    close(fd);
}

/* -- main loop -- */

enum ptype { P_SIGNAL, P_LISTEN, P_CLIENT, P_STDOUT, P_STDERR };

static void serve_loop(void)
{
    struct pollfd pfds[2 + MAX_CLIENTS + 2 * MAX_CONTAINERS];
    struct {
        enum ptype type;
        size_t index;
    } what[sizeof pfds / sizeof pfds[0]];
    while (!(g_shutdown && !any_live())) {
        size_t n = 0;
        int64_t deadline = -1;
        pfds[n] = (struct pollfd){.fd = g_sigfd, .events = POLLIN};
        what[n++].type = P_SIGNAL;
        pfds[n] = (struct pollfd){.fd = g_listen, .events = POLLIN};
        what[n++].type = P_LISTEN;
        for (size_t i = 0; i < MAX_CLIENTS; i++) {
            if (g_clients[i].fd < 0)
                continue;
            pfds[n] = (struct pollfd){.fd = g_clients[i].fd, .events = POLLIN | (g_clients[i].out_len ? POLLOUT : 0)};
            what[n].type = P_CLIENT;
            what[n++].index = i;
        }
        for (size_t i = 0; i < MAX_CONTAINERS; i++) {
            struct container *c = &g_containers[i];
            if (c->state == C_REAPED && (deadline < 0 || c->drain_deadline < deadline))
                deadline = c->drain_deadline;
            if (c->out.fd >= 0) {
                pfds[n] = (struct pollfd){.fd = c->out.fd, .events = POLLIN};
                what[n].type = P_STDOUT;
                what[n++].index = i;
            }
            if (c->err.fd >= 0) {
                pfds[n] = (struct pollfd){.fd = c->err.fd, .events = POLLIN};
                what[n].type = P_STDERR;
                what[n++].index = i;
            }
        }
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = (deadline - mono_ns()) / 1000000LL + 1;
            timeout = left < 0 ? 0 : (int)left;
        }
        int r = poll(pfds, n, timeout);
        if (r < 0 && errno != EINTR) {
            logmsg("poll: %s", strerror(errno));
            sleep(1);
            continue;
        }
        for (size_t k = 0; r > 0 && k < n; k++) {
            if (!pfds[k].revents)
                continue;
            struct container *c = &g_containers[what[k].index];
            struct client *cl = &g_clients[what[k].index];
            switch (what[k].type) {
            case P_SIGNAL: {
                struct signalfd_siginfo info;
                while (read(g_sigfd, &info, sizeof info) == sizeof info) {
                }
                reap();
                break;
            }
            case P_LISTEN:
                accept_client();
                break;
            case P_CLIENT:
                /* The slot may have been dropped or reused while handling an earlier entry. */
                if (cl->fd != pfds[k].fd)
                    break;
                if (pfds[k].revents & POLLOUT)
                    client_flush(cl);
                if (cl->fd == pfds[k].fd && (pfds[k].revents & (POLLIN | POLLHUP | POLLERR)))
                    client_read(cl);
                break;
            case P_STDOUT:
            case P_STDERR: {
                struct stream *s = what[k].type == P_STDOUT ? &c->out : &c->err;
                if (s->fd == pfds[k].fd) {
                    stream_read(c, s);
                    maybe_finalize(c, false);
                }
                break;
            }
            }
        }
        int64_t now = mono_ns();
        for (size_t i = 0; i < MAX_CONTAINERS; i++)
            if (g_containers[i].state == C_REAPED && g_containers[i].drain_deadline <= now)
                maybe_finalize(&g_containers[i], true);
    }
}

/* -- start-up -- */

static int fail_ready(int ready, const char *what)
{
    char msg[512];
    snprintf(msg, sizeof msg, "err %s: %s\n", what, strerror(errno));
    write_all(ready, msg, strlen(msg));
    return 1;
}

static int daemon_main(const char *dir, int ready)
{
    char tmp[64];
    g_dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (g_dirfd < 0)
        return fail_ready(ready, dir);
    int logfd = openat(g_dirfd, "shim.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    g_devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (logfd < 0 || g_devnull < 0)
        return fail_ready(ready, "open shim.log");
    dup2(g_devnull, STDIN_FILENO);
    dup2(g_devnull, STDOUT_FILENO);
    dup2(logfd, STDERR_FILENO);
    close(logfd);
    int lockfd = openat(g_dirfd, "shim.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (lockfd < 0)
        return fail_ready(ready, "open shim.lock");
    if (flock(lockfd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            errno = EEXIST;
        return fail_ready(ready, "another shim serves this task");
    }
    g_self_exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (g_self_exe < 0)
        return fail_ready(ready, "open /proc/self/exe");
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    g_sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (g_sigfd < 0)
        return fail_ready(ready, "signalfd");
    /* Under memory pressure the kernel should pick a container, never the shim that owns them. */
    write_file("/proc/self/oom_score_adj", "-999");
    g_listen = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "shim.sock");
    /* Bound relative to the task directory: its absolute path may exceed sun_path's 108 bytes. */
    mode_t old = umask(077);
    if (g_listen < 0 || fchdir(g_dirfd) < 0 || (unlinkat(g_dirfd, "shim.sock", 0) < 0 && errno != ENOENT) ||
        bind(g_listen, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(g_listen, 16) < 0)
        return fail_ready(ready, "listen on shim.sock");
    umask(old);
    if (chdir("/") < 0)
        return fail_ready(ready, "chdir /");
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        g_clients[i].fd = -1;
    snprintf(tmp, sizeof tmp, "%d\n", (int)getpid());
    if (write_record(g_dirfd, "shim.pid", tmp) < 0)
        return fail_ready(ready, "write shim.pid");
    snprintf(tmp, sizeof tmp, "ok %d\n", (int)getpid());
    write_all(ready, tmp, strlen(tmp));
    close(ready);
    logmsg("serving %s", dir);
    serve_loop();
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        if (g_clients[i].fd >= 0)
            client_flush(&g_clients[i]);
    unlinkat(g_dirfd, "shim.sock", 0);
    unlinkat(g_dirfd, "shim.pid", 0);
    logmsg("shut down");
    return 0;
}

/* Daemonize (double fork, setsid); the foreground process exits once the daemon listens. */
static int serve_main(const char *dir)
{
    int ready[2];
    close_range(3, ~0U, 0);
    if (pipe2(ready, O_CLOEXEC) < 0) {
        perror("pipe");
        return 1;
    }
    pid_t first = fork();
    if (first < 0) {
        perror("fork");
        return 1;
    }
    if (first == 0) {
        close(ready[0]);
        if (setsid() < 0)
            _exit(fail_ready(ready[1], "setsid"));
        pid_t second = fork();
        if (second < 0)
            _exit(fail_ready(ready[1], "fork"));
        if (second > 0)
            _exit(0);
        _exit(daemon_main(dir, ready[1]));
    }
    close(ready[1]);
    while (waitpid(first, NULL, 0) < 0 && errno == EINTR) {
    }
    char answer[600];
    size_t got = 0;
    for (;;) {
        ssize_t n = read(ready[0], answer + got, sizeof answer - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    answer[got] = '\0';
    if (strncmp(answer, "ok ", 3) == 0) {
        fputs(answer + 3, stdout);
        return 0;
    }
    fprintf(stderr, "ecslite-shim: %s", got > 4 ? answer + 4 : "the shim exited before it was ready\n");
    return 1;
}

/* ------------------------------------------------------------------------------------------ */
/* probe mode: can containers be created here (namespaces, mounts)?                            */

static int probe_child(void *arg)
{
    int errfd = *(int *)arg;
    char tmp[128], err[ERR_MAX];
    if (mount(NULL, "/", NULL, MS_SLAVE | MS_REC, NULL) < 0)
        snprintf(err, sizeof err, "make mounts slave: %s", lower_strerror(errno, tmp));
    else if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        snprintf(err, sizeof err, "mount /proc: %s", lower_strerror(errno, tmp));
    else if (sethostname("probe", 5) < 0)
        snprintf(err, sizeof err, "sethostname: %s", lower_strerror(errno, tmp));
    else
        _exit(0);
    write_all(errfd, err, strlen(err));
    _exit(1);
}

static int probe_main(void)
{
    int ep[2];
    char tmp[128], err[ERR_MAX];
    if (pipe2(ep, O_CLOEXEC) < 0) {
        perror("pipe");
        return 1;
    }
    void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    pid_t pid = clone(probe_child, (char *)stack + STACK_SIZE,
                      CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD, &ep[1]);
    if (pid < 0) {
        fprintf(stderr, "cannot create namespaces (clone): %s\n", lower_strerror(errno, tmp));
        return 1;
    }
    close(ep[1]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    ssize_t n = read(ep[0], err, sizeof err - 1);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    err[n > 0 ? n : 0] = '\0';
    fprintf(stderr, "cannot set up a container: %s\n", n > 0 ? err : "the probe process failed");
    return 1;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "probe") == 0)
        return probe_main();
    if (argc >= 2 && strcmp(argv[1], "init") == 0)
        return init_main(argc, argv);
    if (argc >= 2 && strcmp(argv[1], "exec") == 0)
        return exec_main(argc, argv);
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve_main(argv[2]);
    if (argc == 2 && strcmp(argv[1], "version") == 0) {
        printf("%d\n", PROTOCOL_VERSION);
        return 0;
    }
    fprintf(stderr, "usage: ecslite-shim serve TASK_DIR | exec PID ... -- ARGV... | probe | version\n");
    return 2;
}
