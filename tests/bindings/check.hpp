/*
 * check.hpp — the few helpers the C++ binding tests share: CHECK macros that
 * count failures instead of aborting, unique endpoint names, and starting a
 * copy of the test program as a second process (fork + exec, so the child
 * inherits no ZeroMQ context).
 */
#ifndef IPM_TESTS_BINDINGS_CHECK_HPP
#define IPM_TESTS_BINDINGS_CHECK_HPP

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

namespace check
{

inline int &failures()
{
    static int n = 0;
    return n;
}

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (!(cond)) {                                                                   \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,        \
                         #cond);                                                         \
            ++check::failures();                                                         \
        }                                                                                \
    } while (0)

/* expr must throw exactly something catchable as Type; the what() text is
 * kept in check::last_what() for further checks. */
#define CHECK_THROWS(expr, Type)                                                         \
    do {                                                                                 \
        bool thrown_ = false;                                                            \
        try {                                                                            \
            (void)(expr);                                                                \
        } catch (const Type &e_) {                                                       \
            thrown_ = true;                                                              \
            check::last_what() = e_.what();                                              \
        } catch (const std::exception &e_) {                                             \
            std::fprintf(stderr, "%s:%d: %s threw another exception: %s\n", __FILE__,    \
                         __LINE__, #expr, e_.what());                                    \
        }                                                                                \
        if (!thrown_) {                                                                  \
            std::fprintf(stderr, "%s:%d: %s did not throw %s\n", __FILE__, __LINE__,     \
                         #expr, #Type);                                                  \
            ++check::failures();                                                         \
        }                                                                                \
    } while (0)

#define CHECK_CONTAINS(text, part)                                                       \
    do {                                                                                 \
        const std::string t_ = (text);                                                   \
        if (t_.find(part) == std::string::npos) {                                        \
            std::fprintf(stderr, "%s:%d: '%s' does not contain '%s'\n", __FILE__,        \
                         __LINE__, t_.c_str(), std::string(part).c_str());               \
            ++check::failures();                                                         \
        }                                                                                \
    } while (0)

inline std::string &last_what()
{
    static std::string s;
    return s;
}

/* A name no other test process uses: prefix-PID-N. */
inline std::string unique(const std::string &prefix)
{
    static int n = 0;
    return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(++n);
}

inline double elapsed_ms(std::chrono::steady_clock::time_point since)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                     since)
        .count();
}

/* A second process running `self args...`, its stdout readable on out_fd. */
struct Child {
    pid_t pid = -1;
    FILE *out = nullptr;

    /* The child's next stdout line (without newline); "" at EOF. */
    std::string line()
    {
        char buf[1024];
        if (!out || !std::fgets(buf, sizeof buf, out)) return "";
        std::string s(buf);
        if (!s.empty() && s.back() == '\n') s.pop_back();
        return s;
    }
    /* Exit status (0..255), or 128 + signal; kills the child after
     * timeout_s seconds. */
    int wait(int timeout_s = 30)
    {
        for (int i = 0; i < timeout_s * 100; i++) {
            int st = 0;
            pid_t r = waitpid(pid, &st, WNOHANG);
            if (r == pid) {
                pid = -1;
                if (out) std::fclose(out), out = nullptr;
                return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
            }
            usleep(10000);
        }
        kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        pid = -1;
        return 255;
    }
    ~Child()
    {
        if (pid > 0) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, 0);
        }
        if (out) std::fclose(out);
    }
};

/* True if the child has written something (or closed its stdout). */
inline bool readable(Child &c)
{
    if (!c.out) return true;
    struct pollfd p = {fileno(c.out), POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

inline bool spawn(Child &c, const std::string &self, const std::vector<std::string> &args)
{
    int fds[2];
    if (pipe(fds) != 0) return false;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    std::vector<char *> argv;
    argv.push_back(const_cast<char *>(self.c_str()));
    for (const auto &a : args)
        argv.push_back(const_cast<char *>(a.c_str()));
    argv.push_back(nullptr);
    int rc = posix_spawn(&c.pid, self.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        c.pid = -1;
        return false;
    }
    c.out = fdopen(fds[0], "r");
    return true;
}

inline int report(const char *what)
{
    if (failures()) {
        std::fprintf(stderr, "%s: %d check(s) failed\n", what, failures());
        return 1;
    }
    std::printf("%s: all checks passed\n", what);
    return 0;
}

} // namespace check

#endif
